// Concurrency on the real kernel: worker_threads driving their own containers through the
// library, two containers in one process, and async registrations racing maps and unmaps on
// one container. No crash, and the books agree with VmLck throughout and at the end.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  Container,
  DmaBuffer,
  NotRegisteredError,
  OperationPendingError,
  RegionOverlapError,
  type Mapping,
  type Region,
} from '../../lib';
import { Edu } from '../../lib/drivers';
import { possibleLockedBytes } from '../fuzz/kernel-env';
import { guest, vmLocked } from './guest';

const MiB = 1n << 20n;

function booked(containers: Container[]): bigint {
  const [bytes] = possibleLockedBytes(containers, () => 'created');
  return bytes;
}

describe('concurrency (real kernel)', function () {
  this.timeout(300000);

  it('two worker_threads, each with its own container and edu device, DMA at once; VmLck adds up and returns', async function () {
    const start = vmLocked();
    const workers = guest().edu.map(
      ({ group, bdf }) =>
        new Worker(path.join(__dirname, 'children', 'worker-dma.js'), {
          workerData: { group, bdf, cycles: 12 },
        }),
    );
    const messages = workers.map(
      (worker) =>
        new Promise<{ holding: string }>((resolve, reject) => {
          worker.once('message', resolve);
          worker.once('error', reject);
          worker.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
        }),
    );
    const holding = await Promise.all(messages);
    const expected = holding.reduce((sum, m) => sum + BigInt(m.holding), 0n);
    assert.equal(vmLocked() - start, expected, 'both workers hold their books in the process');
    const done = workers.map(
      (worker) =>
        new Promise<void>((resolve, reject) => {
          worker.once('message', () => resolve());
          worker.once('error', reject);
        }),
    );
    for (const worker of workers) worker.postMessage('release');
    await Promise.all(done);
    await Promise.all(workers.map((w) => w.terminate()));
    assert.equal(vmLocked(), start);
  });

  it('two containers in one process: interleaved, a shared registration pinned once, each released by its close', async function () {
    const start = vmLocked();
    const [e0, e1] = guest().edu;
    const c0 = Container.open();
    const c1 = Container.open();
    const shared = DmaBuffer.allocate(MiB);
    const own = DmaBuffer.allocate(2n * MiB);
    try {
      c0.addGroup(e0.group);
      c1.addGroup(e1.group);
      c0.setIommu('v2');
      c1.setIommu('v2');
      const edu0 = new Edu(c0.groups()[0].openDevice(e0.bdf));
      const edu1 = new Edu(c1.groups()[0].openDevice(e1.bdf));
      edu0.device.enableBusMaster();
      edu1.device.enableBusMaster();
      c0.map(c0.register(shared), 0x100000n);
      c1.map(c1.register(shared), 0x500000n);
      c1.map(c1.register(own), 0x100000n);
      // reg.cross-container-identical: the same range in two containers is one pin in the mm.
      assert.equal(vmLocked() - start, booked([c0, c1]));
      assert.equal(booked([c0, c1]), MiB + 2n * MiB + 16n * MiB);
      // reg.cross-container-overlap: part of c1's range from c0, which has none of it in its
      // books: the kernel's one list per process refuses it (EINVAL), charging nothing.
      assert.throws(
        () => c0.register(own, { offset: MiB, size: MiB }),
        (error: unknown) =>
          error instanceof RegionOverlapError &&
          /another container of this process/.test(error.message),
      );
      assert.equal(vmLocked() - start, booked([c0, c1]));
      assert.equal(c0.regions().length, 1);
      shared.bytes().fill(0x5a, 0, 2000);
      await edu0.toDevice(0x100000n, 2000);
      await edu1.toDevice(0x500000n, 2000);
      await edu0.toRam(0x100000n + 8192n, 2000);
      await edu1.toRam(0x100000n, 2000);
      assert.equal(shared.bytes()[8192 + 1999], 0x5a);
      assert.equal(own.bytes()[1999], 0x5a);
      c0.close();
      assert.equal(vmLocked() - start, booked([c1]), 'closing c0 releases only its own');
    } finally {
      c0.close();
      c1.close();
    }
    assert.equal(vmLocked(), start);
    shared.free();
    own.free();
  });

  it('async registrations racing maps and unmaps on one container: refusals are typed, the books equal VmLck', async function () {
    const start = vmLocked();
    const container = Container.open();
    const small = Array.from({ length: 4 }, () => DmaBuffer.allocate(65536));
    const large = Array.from({ length: 3 }, () => DmaBuffer.allocate(40n * MiB));
    for (const b of large) b.bytes().fill(1);
    let pending: Promise<Region>[] = [];
    try {
      container.addGroup(guest().edu[0].group);
      container.setIommu('v2');
      const regions = small.map((b) => container.register(b));
      let settled = 0;
      const done = new Set<number>();
      pending = large.map((b, i) =>
        container.registerAsync(b).then((r) => {
          settled += 1;
          done.add(i);
          return r;
        }),
      );
      let turns = 0;
      let refusedMaps = 0;
      let refusedCloses = 0;
      const live: Mapping[] = [];
      while (settled < large.length) {
        const i = turns % regions.length;
        if (live.length < 3)
          live.push(container.map(regions[i], 0x100000n + BigInt(turns % 16) * 0x10000n * 4n));
        else live.shift()?.unmap();
        const inFlight = large.findIndex((_, j) => !done.has(j));
        if (inFlight >= 0) {
          assert.throws(() => container.map(large[inFlight], 0x10000000n), NotRegisteredError);
          refusedMaps += 1;
        }
        if (turns % 7 === 0) {
          assert.throws(() => container.close(), OperationPendingError);
          refusedCloses += 1;
        }
        turns += 1;
        await new Promise((resolve) => setImmediate(resolve));
      }
      const asyncRegions: Region[] = await Promise.all(pending);
      console.log(
        `      ${turns} turns while 3 x 40 MiB registered: ${refusedMaps} maps and ${refusedCloses} closes refused`,
      );
      assert.ok(turns >= 3, `${turns} turns`);
      assert.equal(vmLocked() - start, booked([container]));
      asyncRegions.forEach((r, i) => container.map(r, 0x10000000n + BigInt(i) * 64n * MiB));
      assert.equal(vmLocked() - start, booked([container]));
      for (const m of container.mappings()) m.unmap();
      for (const r of container.regions()) r.unregister();
      assert.equal(vmLocked() - start, 8n * MiB, 'only the default window is left');
    } finally {
      await Promise.allSettled(pending);
      container.close();
    }
    assert.equal(vmLocked(), start);
    for (const b of [...small, ...large]) b.free();
  });
});
