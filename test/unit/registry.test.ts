// Registrations per process, as the kernel keeps them: two containers of one (fake) process,
// as a user without CAP_IPC_LOCK near the memlock limit. The fake kernel charges an identical
// range once; the library books every kernel-level registration before its ioctl.
import { strict as assert } from 'node:assert';
import { Container, DmaBuffer, MemlockLimitError, RegionOverlapError } from '../../lib';
import { FakeKernel } from '../support/fake-binding';
import { spyBinding } from '../support/spy-binding';
import { assertRefusedBeforeKernel } from '../scenarios/refusals';

const MiB = 1n << 20n;

describe('registrations per process (two containers, 8 MiB memlock limit)', function () {
  let kernel: FakeKernel;
  let c0: Container;
  let c1: Container;
  let calls: string[];
  let buffer: DmaBuffer;

  beforeEach(function () {
    kernel = new FakeKernel({ pageSize: 65536, memlockLimit: 8n * MiB, capIpcLock: false });
    c0 = Container.open({ binding: kernel.binding() });
    c0.addGroup(0);
    c0.setIommu('v2');
    const spied = spyBinding(kernel.binding());
    calls = spied.calls;
    c1 = Container.open({ binding: spied.binding });
    c1.addGroup(1);
    c1.setIommu('v2');
    buffer = DmaBuffer.allocate(Number(6n * MiB), { binding: kernel.binding() });
  });

  afterEach(function () {
    c1.close();
    c0.close();
    buffer.free();
    assert.equal(kernel.locked, 0n);
  });

  it('shares an identical range at no charge: near the limit, the second container is not refused', function () {
    c0.register(buffer);
    assert.equal(kernel.locked, 6n * MiB);
    // 6 + 6 MiB would not fit under 8 MiB: the kernel charges nothing for an identical range.
    const shared = c1.register(buffer);
    assert.equal(kernel.locked, 6n * MiB);
    assert.equal(c1.memlock().locked, 6n * MiB);
    // A range that is new does not fit, and is refused before the kernel.
    const other = DmaBuffer.allocate(Number(4n * MiB), { binding: kernel.binding() });
    assertRefusedBeforeKernel(calls, () => c1.register(other), MemlockLimitError);
    other.free();
    // The pin stays while the other container holds the range.
    shared.unregister();
    assert.equal(kernel.locked, 6n * MiB);
  });

  it('refuses an overlap with another container before the kernel pins anything', async function () {
    c0.register(buffer, { size: 2n * MiB });
    const overlapping = (e: unknown) =>
      e instanceof RegionOverlapError &&
      e.scope === 'process' &&
      e.conflict?.start === buffer.address &&
      e.conflict?.size === 2n * MiB;
    const err = assertRefusedBeforeKernel(
      calls,
      () => c1.register(buffer, { offset: MiB, size: 2n * MiB }),
      RegionOverlapError,
    );
    assert.ok(overlapping(err), err.message);
    const before = calls.length;
    await assert.rejects(c1.registerAsync(buffer), overlapping);
    assert.deepEqual(calls.slice(before), [], 'no ioctl for the async form either');
    assert.equal(kernel.locked, 2n * MiB);
    assert.equal(c1.regions().length, 0);
  });

  it('counts async registrations in flight in any container: the prediction sees them', async function () {
    const big = DmaBuffer.allocate(Number(32n * MiB), { binding: kernel.binding() });
    kernel.memlockLimit = 40n * MiB;
    const inFlight = c0.registerAsync(big);
    // c0 booked 32 MiB that VmLck does not show yet: 32 + 6 + 6 MiB would not fit.
    assert.equal(c1.memlock().locked, 32n * MiB);
    c1.register(buffer);
    assertRefusedBeforeKernel(
      calls,
      () => c1.registerCallerOwnedMemory(big.address + 32n * MiB, 6n * MiB),
      MemlockLimitError,
    );
    // Its blocks are booked too: an overlap is refused while it runs.
    assertRefusedBeforeKernel(calls, () => c1.register(big, { size: MiB }), RegionOverlapError);
    const region = await inFlight;
    assert.equal(kernel.locked, 38n * MiB);
    assert.equal(c1.memlock().locked, 38n * MiB);
    region.unregister();
    big.free();
  });

  it('frees a range only when its last holder lets go, closing included', function () {
    c0.register(buffer);
    c1.register(buffer);
    c0.close();
    assert.equal(kernel.locked, 6n * MiB, 'c1 still holds the pin');
    c1.regionAt(buffer.address, buffer.size).unregister();
    assert.equal(kernel.locked, 0n);
    // A range released by every holder can be registered anew, differently.
    c1.register(buffer, { size: MiB });
    assert.equal(kernel.locked, MiB);
  });
});
