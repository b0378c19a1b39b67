// Locked memory as a non-root user sees it: the library predicts MemlockLimitError with the
// right numbers where the kernel would say ENOMEM, and the same steps pass once the limit is
// raised to the `ulimit -l` the error named. Predicted costs are checked against VmLck.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Container, DmaBuffer } from '../../lib';
import { nativeBinding } from '../../lib/binding';
import { guest, vmLocked } from './guest';

const b = nativeBinding();
const MiB = 1n << 20n;
const KiB = 1024n;

/** Runs the memlock child as uid 65534 under the given RLIMIT_MEMLOCK; returns its report. */
function runAsNobody(limit: bigint): Record<string, any> {
  const saved = b.getMemlockLimit();
  b.setMemlockLimit(limit, limit);
  try {
    const child = spawnSync(
      process.execPath,
      [path.join(__dirname, 'children', 'memlock-steps.js'), String(guest().edu[0].group)],
      { uid: 65534, gid: 65534, encoding: 'utf8' },
    );
    assert.equal(child.status, 0, `child failed: ${child.stderr}`);
    return JSON.parse(child.stdout.trim().split('\n').pop() as string);
  } finally {
    b.setMemlockLimit(saved.soft, saved.hard);
  }
}

describe('locked memory, non-root (real RLIMIT_MEMLOCK)', function () {
  it('map.lazy-default-window-nonroot: predicts the 8 MiB default-window table with 3 MiB registered under an 8 MiB limit, where the kernel says ENOMEM', function () {
    const r = runAsNobody(8n * MiB);
    assert.equal(r.uid, 65534);
    assert.equal(r.capIpcLock, false);
    assert.equal(BigInt(r.lockedAfterRegister) - BigInt(r.lockedAtStart), 3n * MiB);
    assert.equal(r.map, 'ERR_VFIO_MEMLOCK_LIMIT');
    assert.equal(r.kernelMap, 'ENOMEM', 'the kernel refuses what the library predicted');
    assert.equal(BigInt(r.predicted.needed), 8n * MiB);
    assert.equal(BigInt(r.predicted.locked), BigInt(r.lockedAfterRegister));
    assert.equal(BigInt(r.predicted.limit), 8n * MiB);
    assert.equal(BigInt(r.predicted.ulimitKiB), (BigInt(r.lockedAfterRegister) + 8n * MiB) / KiB);
    assert.equal(r.lockedAtEnd, r.lockedAtStart);
  });

  it('the same steps succeed under the ulimit -l the error named, costing what was predicted', function () {
    const first = runAsNobody(8n * MiB);
    const r = runAsNobody(BigInt(first.predicted.ulimitKiB) * KiB);
    assert.equal(r.map, 'OK');
    assert.equal(BigInt(r.lockedAfterMap) - BigInt(r.lockedAfterRegister), 8n * MiB);
    assert.equal(r.lockedAtEnd, r.lockedAtStart);
  });

  it('as uid 65534 under 8 MiB: one range from two containers and a worker is charged once, overlaps refused with nothing pinned, the prediction equals VmLck at every step', function () {
    const saved = b.getMemlockLimit();
    b.setMemlockLimit(8n * MiB, 8n * MiB);
    let report: {
      uid: number;
      capIpcLock: boolean;
      steps: Record<string, string>[];
      lockedAtEnd: string;
    };
    try {
      const groups = [guest().edu[0].group, guest().edu[1].group, guest().nvme[0].group];
      const child = spawnSync(
        process.execPath,
        [path.join(__dirname, 'children', 'shared-registrations.js'), ...groups.map(String)],
        { uid: 65534, gid: 65534, encoding: 'utf8' },
      );
      assert.equal(child.status, 0, `child failed: ${child.stderr}`);
      report = JSON.parse(child.stdout.trim().split('\n').pop() as string);
    } finally {
      b.setMemlockLimit(saved.soft, saved.hard);
    }
    assert.equal(report.uid, 65534);
    assert.equal(report.capIpcLock, false);
    const six = String(6n * MiB);
    const expected: [string, string, string][] = [
      ['c0 registers 6 MiB', 'OK', six],
      ['c1 registers an overlapping range', 'ERR_VFIO_REGION_OVERLAP:process', six],
      ['c1 registers an overlapping range, async', 'ERR_VFIO_REGION_OVERLAP:process', six],
      ['c1 registers the same range', 'OK', six],
      ['a worker registers an overlapping range', 'ERR_VFIO_REGION_OVERLAP:process', six],
      ['a worker registers the same range', 'OK', six],
      ['c0 unregisters (c1 and the worker hold it)', 'OK', six],
      ['c1 unregisters (the worker holds it)', 'OK', six],
      ['the worker unregisters: the last holder', 'OK', '0'],
    ];
    assert.deepEqual(
      report.steps.map((s) => [s.name, s.result, s.locked]),
      expected,
      JSON.stringify(report.steps),
    );
    for (const s of report.steps) assert.equal(s.predicted, s.locked, `prediction at: ${s.name}`);
    assert.equal(report.lockedAtEnd, '0');
  });

  it('reg.charge, window.charge: predicted costs of registration and windows match VmLck (root)', function () {
    const container = Container.open();
    const buffer = DmaBuffer.allocate(2n * MiB);
    try {
      container.addGroup(guest().edu[0].group);
      container.setIommu('v2');
      const start = vmLocked();
      const region = container.register(buffer);
      assert.equal(vmLocked() - start, 2n * MiB, 'register 2 MiB');
      const defaultCost = container.windowCost(4096, container.info().dma32.size);
      const mapping = container.map(region, 0n, { size: 65536 });
      assert.equal(vmLocked() - start - 2n * MiB, defaultCost, 'default window');
      const offered = container.info().ddw?.pageSizes ?? [];
      const largest = offered.filter((p) => p <= 1n << 30n).pop() as bigint;
      for (const [pageSize, size, levels] of [
        [65536n, 1n << 32n, 1],
        [65536n, 1n << 32n, 2],
        [largest, 1n << 36n, 1],
        [4096n, 1n << 30n, 3],
      ] as const) {
        const before = vmLocked();
        const window = container.createWindow({ pageSize, size, levels });
        assert.equal(
          vmLocked() - before,
          container.windowCost(pageSize, size, levels),
          `window of ${size} bytes in ${pageSize}-byte pages, ${levels} level(s)`,
        );
        window.remove();
        assert.equal(vmLocked(), before);
      }
      mapping.unmap();
      region.unregister();
    } finally {
      container.close();
      buffer.free();
    }
  });
});
