// The device layer against the fake kernel (test/support/fake-device.ts): every refusal is
// typed, carries its facts, and comes before the kernel is asked (the fake logs each device
// ioctl and fd transfer). The same behaviours run on the real kernel in test/vm/device.test.ts
// and test/vm/interrupts.test.ts.
import { strict as assert } from 'node:assert';
import {
  ArgumentRangeError,
  DeviceBusyError,
  EventFd,
  Group,
  HotResetGroupsError,
  InterruptNotEnabledError,
  InterruptNotSupportedError,
  InterruptResizeError,
  InterruptsBusyError,
  InvalidArgumentError,
  ClosedError,
  PCI_IRQ_INDEX,
  RegionAccessError,
  RegionBoundsError,
  RegisterWidthError,
  ResetNotSupportedError,
  UnmappedAreaError,
  type Device,
} from '../../lib';
import type { NativeError } from '../../lib/binding';
import { FakeKernel } from '../support/fake-binding';
import { EDU_SPEC, type FakeDeviceSpec } from '../support/fake-device';

const BDF = '0000:01:00.0';
const tick = () => new Promise((resolve) => setImmediate(resolve));

/** NVMe as the kernel reports it: MSI-X with 65 vectors (table and PBA in BAR0), ERR present. */
const NVME_SPEC: FakeDeviceSpec = {
  irqs: [
    EDU_SPEC.irqs[0],
    { flags: 9, count: 0 },
    { flags: 9, count: 65 },
    { flags: 9, count: 1 },
    { flags: 9, count: 1 },
  ],
  regions: [
    { flags: 15, size: 0x4000n, capabilities: [{ id: 3, version: 1, kind: 'msix-mappable' }] },
    ...EDU_SPEC.regions.slice(1, 6),
    { flags: 1, size: 0x8000n }, // a ROM: read-only
    { flags: 3, size: 256n },
  ],
  msix: { vectors: 65, table: { bar: 0, offset: 0x2000 }, pba: { bar: 0, offset: 0x3000 } },
};

function open(spec?: FakeDeviceSpec) {
  const kernel = new FakeKernel({ pageSize: 4096, device: spec });
  const group = Group.open(0, { binding: kernel.binding() });
  const device = group.openDevice(BDF);
  return { kernel, group, device };
}

/** Asserts `fn` throws a `Class`, and returns it. */
function thrown<E extends Error>(fn: () => unknown, Class: new (...args: never[]) => E): E {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof Class, `threw ${String(error)}, not a ${Class.name}`);
    return error;
  }
  throw new assert.AssertionError({ message: `did not throw a ${Class.name}` });
}

/** Asserts `fn` throws a `Class` (returned) and that `call` was not issued meanwhile. */
function refusedBefore<E extends Error>(
  kernel: FakeKernel,
  call: string,
  fn: () => unknown,
  Class: new (...args: never[]) => E,
): E {
  const before = kernel.ioctls.filter((c) => c === call).length;
  let caught: unknown;
  assert.throws(fn, (e: unknown) => {
    caught = e;
    return e instanceof Class;
  });
  assert.equal(kernel.ioctls.filter((c) => c === call).length, before, `${call} was issued`);
  return caught as E;
}

describe('device resets (fake kernel)', function () {
  it('reset() is refused before VFIO_DEVICE_RESET where the flags offer none', function () {
    const { kernel, device } = open({ flags: 2 });
    const e = refusedBefore(
      kernel,
      'VFIO_DEVICE_RESET',
      () => device.reset(),
      ResetNotSupportedError,
    );
    assert.equal(e.device, BDF);
    assert.equal(e.kind, 'function');
    assert.equal(e.flags, 2);
    assert.match(e.message, /lack VFIO_DEVICE_FLAGS_RESET/);
    const resettable = open();
    resettable.device.reset();
    assert.ok(resettable.kernel.ioctls.includes('VFIO_DEVICE_RESET'));
  });

  it('reset() turns the kernel busy answer (EAGAIN) into DeviceBusyError', function () {
    const { kernel, device } = open();
    const binding = kernel.binding();
    (device as unknown as { binding: typeof binding }).binding.deviceReset = () => {
      throw Object.assign(new Error('VFIO_DEVICE_RESET: EAGAIN'), {
        code: 'EAGAIN',
        errno: -11,
        syscall: 'ioctl',
        ioctl: 'VFIO_DEVICE_RESET',
      }) as NativeError;
    };
    const error = thrown(() => device.reset(), DeviceBusyError);
    assert.equal(error.reason, 'EAGAIN');
    assert.equal(error.errno, -11);
    assert.equal(error.ioctl, 'VFIO_DEVICE_RESET');
  });

  it('hot reset info follows the ENOSPC protocol: asked again with the count the kernel gave', function () {
    // Eleven more functions on the bus (slots 1 and 2), in groups 0 and 1: more than fit first.
    const peers = Array.from({ length: 11 }, (_, i) => ({
      bdf: `0000:01:0${1 + (i >> 3)}.${i % 8}`,
      group: i < 6 ? 1 : 0,
    }));
    const { kernel, device } = open({ hotResetPeers: peers });
    const info = device.hotResetInfo();
    assert.equal(info.devices.length, 12);
    assert.deepEqual(info.devices[0], { bdf: BDF, group: 0 });
    assert.deepEqual(info.groups, [0, 1]);
    assert.equal(kernel.ioctls.filter((c) => c === 'VFIO_DEVICE_GET_PCI_HOT_RESET_INFO').length, 2);
  });

  it('hotReset() names the groups it lacks before VFIO_DEVICE_PCI_HOT_RESET, and passes exactly those needed', function () {
    const { kernel, device, group } = open({ hotResetPeers: [{ bdf: '0000:01:00.1', group: 1 }] });
    const e = refusedBefore(
      kernel,
      'VFIO_DEVICE_PCI_HOT_RESET',
      () => device.hotReset(),
      HotResetGroupsError,
    );
    assert.deepEqual(e.needed, [0, 1]);
    assert.deepEqual(e.held, [0]);
    assert.deepEqual(e.missing, [1]);
    assert.match(e.message, /lacks 1/);
    const other = Group.open(1, { binding: kernel.binding() });
    const spare = Group.open(0, { binding: kernel.binding() });
    let passed: number[] = [];
    const binding = (
      device as unknown as { binding: { devicePciHotReset(fd: number, fds: number[]): void } }
    ).binding;
    const real = binding.devicePciHotReset;
    binding.devicePciHotReset = (fd, fds) => {
      passed = fds;
      real(fd, fds);
    };
    device.hotReset([group, other, spare]);
    assert.deepEqual(passed, [group.fd, other.fd], 'one fd per group involved');
    other.close();
    const closed = refusedBefore(
      kernel,
      'VFIO_DEVICE_PCI_HOT_RESET',
      () => device.hotReset([group, other]),
      HotResetGroupsError,
    );
    assert.deepEqual(closed.missing, [1], 'a closed group is not held');
    assert.throws(() => device.hotReset([5 as never]), InvalidArgumentError);
  });

  it('hot reset of a device with no slot or bus reset is ResetNotSupportedError (ENODEV)', function () {
    const { device } = open({ hotResetPeers: null });
    assert.equal(thrown(() => device.hotResetInfo(), ResetNotSupportedError).kind, 'hot');
    assert.equal(thrown(() => device.hotReset(), ResetNotSupportedError).kind, 'hot');
  });
});

describe('device interrupts (fake kernel)', function () {
  let kernel: FakeKernel;
  let device: Device;

  beforeEach(function () {
    ({ kernel, device } = open(NVME_SPEC));
  });

  const SET = 'VFIO_DEVICE_SET_IRQS';

  it('decodes the IRQ info flags, and lists the indexes the device has', function () {
    const edu = open().device;
    assert.deepEqual(
      edu.irqs().map((i) => [i.name, i.count, i.maskable, i.automasked, i.noresize]),
      [
        ['INTX', 1, true, true, false],
        ['MSI', 1, false, false, true],
        ['MSIX', 0, false, false, true],
        ['REQ', 1, false, false, true],
      ],
    );
  });

  it('refuses an index the device lacks, and an action vfio-pci does not offer on it', function () {
    const fd = EventFd.create({ binding: kernel.binding() });
    const none = refusedBefore(
      kernel,
      SET,
      () => device.setInterruptTriggers(PCI_IRQ_INDEX.msi, [fd]),
      InterruptNotSupportedError,
    );
    assert.equal(none.count, 0);
    assert.equal(none.indexName, 'MSI');
    const edu = open();
    const err = refusedBefore(
      edu.kernel,
      SET,
      () => edu.device.onError(() => undefined),
      InterruptNotSupportedError,
    );
    assert.equal(err.indexName, 'ERR');
    device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [fd]);
    const mask = refusedBefore(
      kernel,
      SET,
      () => device.maskInterrupt(PCI_IRQ_INDEX.msix),
      InterruptNotSupportedError,
    );
    assert.equal(mask.action, 'mask');
    assert.equal(mask.flags, 9);
    assert.match(mask.message, /lack VFIO_IRQ_INFO_MASKABLE/);
  });

  it('one of INTx, MSI and MSI-X at a time: the second is InterruptsBusyError until the first is off', function () {
    const fd = EventFd.create({ binding: kernel.binding() });
    device.setInterruptTriggers(PCI_IRQ_INDEX.intx, [fd]);
    const e = refusedBefore(
      kernel,
      SET,
      () => device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [fd]),
      InterruptsBusyError,
    );
    assert.equal(e.activeName, 'INTX');
    assert.equal(e.requestedName, 'MSIX');
    device.disableInterrupts(PCI_IRQ_INDEX.intx);
    device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [fd]);
  });

  it('a range beyond the vectors enabled is InterruptResizeError (NORESIZE); beyond the device, a range error', function () {
    const [a, b, c] = [1, 2, 3].map(() => EventFd.create({ binding: kernel.binding() }));
    device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [a, b], { start: 1 });
    assert.deepEqual([...device.interruptTriggers(PCI_IRQ_INDEX.msix).keys()], [1, 2]);
    const e = refusedBefore(
      kernel,
      SET,
      () => device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [c], { start: 3 }),
      InterruptResizeError,
    );
    assert.equal(e.enabled, 3);
    assert.equal(e.requested, 4);
    // Inside the enabled vectors: vector 0 added, vector 2 changed, vector 1 removed.
    device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [c], { start: 0 });
    device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [null, a], { start: 1 });
    assert.deepEqual(
      [...device.interruptTriggers(PCI_IRQ_INDEX.msix)],
      [
        [0, c.fd],
        [2, a.fd],
      ],
    );
    refusedBefore(
      kernel,
      SET,
      () => device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [a], { start: 65 }),
      ArgumentRangeError,
    );
    refusedBefore(
      kernel,
      SET,
      () => device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [-1 as never]),
      InvalidArgumentError,
    );
  });

  it('mask and unmask need INTx on; mask by eventfd is the kernel ENOTTY, typed', function () {
    const trigger = EventFd.create({ binding: kernel.binding() });
    const off = refusedBefore(
      kernel,
      SET,
      () => device.unmaskInterrupt(PCI_IRQ_INDEX.intx),
      InterruptNotEnabledError,
    );
    assert.deepEqual(off.vectors, [0]);
    device.setInterruptTriggers(PCI_IRQ_INDEX.intx, [trigger]);
    device.maskInterrupt(PCI_IRQ_INDEX.intx);
    assert.equal(kernel.devices.state(device.fd)?.masked, true);
    device.unmaskInterrupt(PCI_IRQ_INDEX.intx, { vectors: [true] });
    assert.equal(kernel.devices.state(device.fd)?.masked, false);
    device.setUnmaskEventfd(PCI_IRQ_INDEX.intx, EventFd.create({ binding: kernel.binding() }));
    const e = thrown(
      () => device.setMaskEventfd(PCI_IRQ_INDEX.intx, trigger),
      InterruptNotSupportedError,
    );
    assert.equal(e.action, 'mask-eventfd');
    assert.match(e.message, /ENOTTY/);
    refusedBefore(
      kernel,
      SET,
      () => device.unmaskInterrupt(PCI_IRQ_INDEX.intx, { vectors: [1 as never] }),
      InvalidArgumentError,
    );
  });

  it('the loopback trigger signals the eventfds routed, and refuses vectors with none', async function () {
    const [a, b] = [1, 2].map(() => EventFd.create({ binding: kernel.binding() }));
    device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [a, b]);
    const e = refusedBefore(
      kernel,
      SET,
      () => device.triggerInterrupt(PCI_IRQ_INDEX.msix, { start: 0, count: 3 }),
      InterruptNotEnabledError,
    );
    assert.deepEqual(e.vectors, [2]);
    device.triggerInterrupt(PCI_IRQ_INDEX.msix, { start: 0, count: 2, vectors: [false, true] });
    assert.equal(a.read(), 0n);
    assert.equal(b.read(), 1n);
    device.disableInterrupts(PCI_IRQ_INDEX.msix);
    // off is off: no SET_IRQS (the kernel would say EINVAL)
    const sets = kernel.ioctls.filter((c) => c === SET).length;
    device.disableInterrupts(PCI_IRQ_INDEX.msix);
    assert.equal(kernel.ioctls.filter((c) => c === SET).length, sets);
  });

  it('enableInterrupts watches its eventfds; disable() de-assigns only its vectors, the index goes off with the last', async function () {
    const mine = device.enableInterrupts(PCI_IRQ_INDEX.msix, { start: 0, count: 2 });
    const seen: [number, bigint][] = [];
    mine.on('interrupt', (vector, count) => seen.push([vector, count]));
    device.triggerInterrupt(PCI_IRQ_INDEX.msix, { start: 1, count: 1 });
    await tick();
    assert.deepEqual(seen, [[1, 1n]]);
    const callers = EventFd.create({ binding: kernel.binding() });
    device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [callers], { start: 1 });
    mine.disable();
    assert.deepEqual([...device.interruptTriggers(PCI_IRQ_INDEX.msix)], [[1, callers.fd]]);
    assert.equal(kernel.devices.state(device.fd)?.mode?.index, PCI_IRQ_INDEX.msix);
    assert.ok(mine.eventfds.every((e) => e.closed));
    const again = device.enableInterrupts(PCI_IRQ_INDEX.msix, { start: 1, count: 1 });
    again.disable();
    assert.equal(kernel.devices.state(device.fd)?.mode, null, 'the last route took the index off');
  });

  it('REQ and ERR arrive as typed events', async function () {
    const events: unknown[] = [];
    const req = device.onRequest((event) => events.push(event));
    const err = device.onError((event) => events.push(event));
    device.triggerInterrupt(PCI_IRQ_INDEX.req);
    device.triggerInterrupt(PCI_IRQ_INDEX.err);
    await tick();
    assert.deepEqual(events, [
      { kind: 'request', device: BDF, count: 1n },
      { kind: 'error', device: BDF, count: 1n },
    ]);
    req.disable();
    err.disable();
    assert.equal(device.interruptTriggers(PCI_IRQ_INDEX.req).size, 0);
  });

  it('closing the device frees its routes without an ioctl (the kernel turns them off)', function () {
    const route = device.enableInterrupts(PCI_IRQ_INDEX.msix, { count: 4 });
    const calls = kernel.ioctls.filter((c) => c === SET).length;
    device.close();
    assert.equal(kernel.ioctls.filter((c) => c === SET).length, calls);
    assert.ok(route.disabled && route.eventfds.every((e) => e.closed));
    assert.deepEqual(kernel.devices.openEventfds(), []);
  });

  it('EventFd: values, closed use', function () {
    const fd = EventFd.create({ binding: kernel.binding() });
    for (const bad of [0n, -1n, 1n << 64n, 1 as never]) {
      assert.throws(() => fd.write(bad), InvalidArgumentError);
    }
    fd.write(3n);
    assert.equal(fd.read(), 3n);
    fd.close();
    fd.close();
    assert.throws(() => fd.read(), ClosedError);
    assert.throws(() => fd.fd, ClosedError);
  });
});

describe('device regions (fake kernel)', function () {
  let kernel: FakeKernel;
  let device: Device;

  beforeEach(function () {
    ({ kernel, device } = open(NVME_SPEC));
  });

  it('reads through the fd what the mmap shows, and a write through the fd lands', function () {
    const bar = device.mapRegion(0);
    const io = device.regionIo(0);
    bar.write64(0x28, 0x123456789abcdef0n);
    assert.equal(io.read64(0x28), 0x123456789abcdef0n);
    assert.equal(io.read32(0x2c), 0x12345678);
    io.write32(0x24, 0x000f000f);
    assert.equal(bar.read32(0x24), 0x000f000f);
    assert.deepEqual([...io.readBytes(0x24, 4)], [0x0f, 0, 0x0f, 0]);
    const big = device.regionIo(0, { endianness: 'big' });
    assert.equal(big.read32(0x24), 0x0f000f00);
  });

  it('out-of-bounds and wrong-width accesses are typed, with nothing read or written', function () {
    const io = device.regionIo(0);
    const memory = () => Buffer.from(kernel.devices.memory(device.fd, 0)).toString('hex');
    const before = memory();
    const oob = refusedBefore(kernel, 'pwrite', () => io.write32(0x4000, 1), RegionBoundsError);
    assert.equal(oob.offset, 0x4000n);
    assert.equal(oob.length, 4n);
    assert.equal(oob.size, 0x4000n);
    refusedBefore(kernel, 'pwrite', () => io.write64(0x4000, 1n), RegionBoundsError);
    refusedBefore(
      kernel,
      'pwrite',
      () => io.writeBytes(0x3fff, new Uint8Array(2)),
      RegionBoundsError,
    );
    refusedBefore(kernel, 'pread', () => io.readBytes(0x4000, 1), RegionBoundsError);
    const misaligned = refusedBefore(
      kernel,
      'pwrite',
      () => io.write32(0x2, 1),
      RegisterWidthError,
    );
    assert.equal(misaligned.width, 32);
    refusedBefore(kernel, 'pread', () => io.read(0, 24 as never), RegisterWidthError);
    refusedBefore(kernel, 'pwrite', () => io.write16(0, 0x10000), ArgumentRangeError);
    refusedBefore(kernel, 'pwrite', () => io.write8(-1, 0), ArgumentRangeError);
    assert.equal(memory(), before, 'nothing written');
    assert.throws(() => device.readConfig(0x100, 8), RegionBoundsError);
    assert.throws(() => device.readConfig(2, 32), RegisterWidthError);
    assert.throws(() => device.readConfig(0, 64 as never), RegisterWidthError);
  });

  it('a read-only ROM refuses writes, and a region without MMAP refuses mapRegion', function () {
    const rom = device.regionIo(6);
    assert.equal(rom.read32(0), 0);
    const e = refusedBefore(kernel, 'pwrite', () => rom.write32(0, 1), RegionAccessError);
    assert.equal(e.region, 'ROM');
    assert.equal(e.access, 'write');
    assert.equal(e.flags, 1);
    const m = refusedBefore(kernel, 'mmap', () => device.mapRegion(6), RegionAccessError);
    assert.equal(m.access, 'mmap');
  });

  it('says which parts a VMM must trap: the MSI-X table and PBA', function () {
    assert.deepEqual(device.msixLayout(), {
      vectors: 65,
      table: { bar: 0, offset: 0x2000n, size: 1040n },
      pba: { bar: 0, offset: 0x3000n, size: 16n },
    });
    assert.deepEqual(device.trappedAreas(0), [
      { offset: 0x2000n, size: 1040n, reason: 'msix-table' },
      { offset: 0x3000n, size: 16n, reason: 'msix-pba' },
    ]);
    assert.deepEqual(device.trappedAreas(6), [
      { offset: 0n, size: 0x8000n, reason: 'not-mmappable' },
    ]);
  });

  it('maps a sparse region area by area; MMIO outside the areas is UnmappedAreaError', function () {
    const sparse = open({
      regions: [
        {
          flags: 15,
          size: 0x4000n,
          capabilities: [
            {
              id: 1,
              version: 1,
              kind: 'sparse-mmap',
              areas: [
                { offset: 0x3000n, size: 0x1000n },
                { offset: 0n, size: 0x1000n },
              ],
            },
          ],
        },
        ...EDU_SPEC.regions.slice(1),
      ],
    }).device;
    const region = sparse.region(0);
    assert.deepEqual(region.mmapAreas, [
      { offset: 0n, size: 0x1000n },
      { offset: 0x3000n, size: 0x1000n },
    ]);
    assert.deepEqual(sparse.trappedAreas(0), [
      { offset: 0x1000n, size: 0x2000n, reason: 'not-mmappable' },
    ]);
    const bar = sparse.mapRegion(0);
    assert.deepEqual(bar.areas, [
      { offset: 0, size: 0x1000 },
      { offset: 0x3000, size: 0x1000 },
    ]);
    bar.write32(0x3004, 7);
    assert.equal(bar.read32(0x3004), 7);
    const e = thrown(() => bar.read32(0x2000), UnmappedAreaError);
    assert.equal(e.offset, 0x2000n);
    assert.equal(e.areas.length, 2);
    // The trapped part is reachable through the fd.
    sparse.regionIo(0).write32(0x2000, 5);
    assert.equal(sparse.regionIo(0).read32(0x2000), 5);
  });
});
