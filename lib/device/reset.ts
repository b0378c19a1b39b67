// Resets through the device fd: the device's own reset (VFIO_DEVICE_RESET, where its flags
// offer one), and a hot reset of its slot or bus, which also resets every device behind it:
// the kernel lists them (and their IOMMU groups) and wants the fd of each of those groups.
import type { NativeBinding, NativeError } from '../binding';
import {
  DeviceBusyError,
  HotResetGroupsError,
  ResetNotSupportedError,
  VfioSystemError,
  callNative,
} from '../errors';

/** A device a hot reset also resets. */
export interface HotResetTarget {
  /** Its PCI address, e.g. '0002:01:00.0'. */
  bdf: string;
  /** Its IOMMU group. */
  group: number;
}

export interface HotResetInfo {
  devices: HotResetTarget[];
  /** The IOMMU groups of those devices, sorted: a hot reset needs every one of them held. */
  groups: number[];
}

/** @internal What the reset functions need of a device. */
export interface ResetTarget {
  binding: NativeBinding;
  fd: number;
  name: string;
  /** VFIO_DEVICE_GET_INFO flags. */
  flags: number;
}

function classify(target: ResetTarget, operation: string, kind: 'function' | 'hot') {
  return (native: NativeError): Error | undefined => {
    if (native.code === 'EAGAIN' || native.code === 'EBUSY') {
      return new DeviceBusyError({ device: target.name, operation, native });
    }
    // ENODEV: no slot or bus reset; EINVAL from VFIO_DEVICE_RESET: the kernel has none either.
    if (native.code === 'ENODEV' || (kind === 'function' && native.code === 'EINVAL')) {
      return new ResetNotSupportedError({ device: target.name, kind, flags: target.flags, native });
    }
    return undefined;
  };
}

export function resetDevice(target: ResetTarget): void {
  if (!(target.flags & target.binding.constants.VFIO_DEVICE_FLAGS_RESET)) {
    throw new ResetNotSupportedError({
      device: target.name,
      kind: 'function',
      flags: target.flags,
    });
  }
  callNative(
    `resetting ${target.name}`,
    () => target.binding.deviceReset(target.fd),
    classify(target, 'reset', 'function'),
  );
}

function bdf(segment: number, bus: number, devfn: number): string {
  const hex = (v: number, width: number) => v.toString(16).padStart(width, '0');
  return `${hex(segment, 4)}:${hex(bus, 2)}:${hex(devfn >> 3, 2)}.${devfn & 7}`;
}

/**
 * VFIO_DEVICE_GET_PCI_HOT_RESET_INFO. The kernel answers ENOSPC with the count it needs when
 * the list does not fit: ask again with that much room (devices may appear meanwhile).
 */
export function readHotResetInfo(target: ResetTarget): HotResetInfo {
  let capacity = 8;
  for (let attempt = 0; attempt < 4; attempt += 1) {
    const info = callNative(
      `reading the hot reset info of ${target.name}`,
      () => target.binding.deviceGetPciHotResetInfo(target.fd, capacity),
      classify(target, 'hot reset info', 'hot'),
    );
    if (info.devices !== null) {
      const devices = info.devices.map((d) => ({
        bdf: bdf(d.segment, d.bus, d.devfn),
        group: d.groupId,
      }));
      return { devices, groups: [...new Set(devices.map((d) => d.group))].sort((a, b) => a - b) };
    }
    capacity = Math.max(info.count, capacity * 2);
  }
  const native = Object.assign(new Error('the device list kept growing (ENOSPC)'), {
    code: 'ENOSPC',
    syscall: 'ioctl',
    ioctl: 'VFIO_DEVICE_GET_PCI_HOT_RESET_INFO',
  });
  throw new VfioSystemError(native, `reading the hot reset info of ${target.name}`);
}

/** @internal A group the caller holds: its number and fd. */
export interface HeldGroup {
  number: number;
  fd: number;
}

/** VFIO_DEVICE_PCI_HOT_RESET with the fd of every group the reset touches, checked first. */
export function hotResetDevice(target: ResetTarget, held: HeldGroup[]): void {
  const { groups } = readHotResetInfo(target);
  const heldNumbers = [...new Set(held.map((g) => g.number))].sort((a, b) => a - b);
  if (groups.some((g) => !heldNumbers.includes(g))) {
    throw new HotResetGroupsError({ device: target.name, needed: groups, held: heldNumbers });
  }
  // Exactly the groups involved: the kernel refuses a list longer than its device count.
  const fds = groups.map((g) => (held.find((h) => h.number === g) as HeldGroup).fd);
  callNative(
    `hot reset of ${target.name} (groups ${groups.join(', ')})`,
    () => target.binding.devicePciHotReset(target.fd, fds),
    classify(target, 'hot reset', 'hot'),
  );
}
