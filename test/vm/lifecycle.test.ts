// Lifecycle on the real kernel: close releases everything, a killed process leaves nothing
// pinned, and an async registration keeps the event loop turning.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { Container, DmaBuffer, Group } from '../../lib';
import { nativeBinding } from '../../lib/binding';
import { assertMemoryReturns, guest, memAvailable, vmLocked } from './guest';

const MiB = 1n << 20n;

describe('lifecycle (real kernel)', function () {
  it('close() with regions, mappings and a window live brings VmLck back to its start', function () {
    const start = vmLocked();
    const container = Container.open();
    const buffer = DmaBuffer.allocate(4n * MiB);
    try {
      container.addGroup(guest().edu[0].group);
      container.setIommu('v2');
      const region = container.register(buffer);
      container.map(region, 0n);
      container.createWindow({ pageSize: 65536, size: 1n << 32n });
      assert.equal(vmLocked() - start, 4n * MiB + 8n * MiB + MiB);
    } finally {
      container.close();
    }
    assert.equal(vmLocked(), start);
    assert.equal(buffer.inUse, false);
    buffer.free();
  });

  it('process.exit-releases: a killed process leaves nothing pinned: its group opens again and its memory returns', async function () {
    const group = guest().edu[1].group;
    const size = 256 * 1024 * 1024;
    const baseline = memAvailable();
    const child = spawn(process.execPath, [
      path.join(__dirname, 'children', 'hold-registration.js'),
      String(group),
      String(size),
    ]);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('READY') && resolve());
      child.on('exit', (code) => reject(new Error(`child exited early with ${code}: ${stderr}`)));
    });
    assert.ok(baseline - memAvailable() >= BigInt(size), 'the child holds its 256 MiB');
    assert.throws(() => Group.open(group), /EBUSY/, 'the group is held by the child');
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const g = Group.open(group);
    g.close();
    await assertMemoryReturns(baseline, BigInt(size) / 4n);
  });

  it('an async registration of a large region keeps the event loop turning', async function () {
    const container = Container.open();
    const buffer = DmaBuffer.allocate(256n * MiB);
    buffer.bytes().fill(1);
    try {
      container.addGroup(guest().edu[0].group);
      container.setIommu('v2');
      let t = process.hrtime.bigint();
      const sync = container.register(buffer);
      const syncNs = process.hrtime.bigint() - t;
      sync.unregister();

      // Count event-loop turns with a self-renewing setImmediate, and the longest gap.
      let maxGap = 0n;
      let turns = 0;
      let last = process.hrtime.bigint();
      let spinning = true;
      const spin = () => {
        const now = process.hrtime.bigint();
        if (now - last > maxGap) maxGap = now - last;
        last = now;
        turns += 1;
        if (spinning) setImmediate(spin);
      };
      setImmediate(spin);
      t = process.hrtime.bigint();
      const region = await container.registerAsync(buffer);
      const asyncNs = process.hrtime.bigint() - t;
      spinning = false;
      console.log(
        `      256 MiB: sync register blocked the loop ${syncNs / 1000000n} ms; async took ` +
          `${asyncNs / 1000000n} ms, the loop turned ${turns} times, longest gap ${maxGap / 1000000n} ms`,
      );
      // 256 MiB goes to the kernel in 16 blocks of 16 MiB: the loop turns between each.
      assert.ok(turns >= 16, `the loop turned ${turns} times during 16 blocks`);
      assert.equal(region.size, 256n * MiB);
      region.unregister();
    } finally {
      container.close();
      buffer.free();
    }
  });

  it('the native layer never sees a buffer freed under a registration', function () {
    const container = Container.open();
    const buffer = DmaBuffer.allocate(65536);
    try {
      container.addGroup(guest().edu[0].group);
      container.setIommu('v2');
      container.register(buffer);
      assert.throws(() => buffer.free(), /still registered or mapped/);
      assert.equal(nativeBinding().addressOf(buffer.buffer), buffer.address);
    } finally {
      container.close();
    }
    buffer.free();
  });
});
