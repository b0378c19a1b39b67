// The device layer against the fake kernel (test/support/fake-device.ts): resets and regions.
// Every refusal is typed, carries its facts, and comes before the kernel is asked (the fake
// logs each device ioctl and fd transfer). The same behaviours run on the real kernel in
// test/vm/device.test.ts.
import { strict as assert } from 'node:assert';
import {
  ArgumentRangeError,
  DeviceBusyError,
  Group,
  HotResetGroupsError,
  InvalidArgumentError,
  RegionAccessError,
  RegionBoundsError,
  RegisterWidthError,
  ResetNotSupportedError,
  UnmappedAreaError,
  type Device,
} from '../../lib';
import type { NativeError } from '../../lib/binding';
import { BDF, NVME_SPEC, open, refusedBefore, thrown } from '../support/device-fixtures';
import type { FakeKernel } from '../support/fake-binding';
import { EDU_SPEC } from '../support/fake-device';

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
