// The device side of the fake kernel (fake-binding.ts): device fds, their regions (backed by
// memory that pread/pwrite and mmap share, as a BAR is), VFIO_DEVICE_SET_IRQS with vfio-pci's
// rules, resets and hot resets, and eventfds whose counters the fake's interrupts bump. Each
// rule modelled here is measured on the real kernel by the VM suite (test/vm/interrupts.test.ts,
// test/vm/device.test.ts); every device ioctl and fd transfer is logged so a test can prove a
// refusal came before the kernel was asked.
import type { HotResetInfo, NativeBinding, NativeError, RegionInfo } from '../../lib/binding';

const ERRNO = { EBADF: 9, ENODEV: 19, EINVAL: 22, ENOTTY: 25 } as const;

function err(code: keyof typeof ERRNO, syscall: string, ioctl?: string): never {
  const error = new Error(`${ioctl ?? syscall}: ${code}`) as NativeError;
  error.code = code;
  error.errno = -ERRNO[code];
  error.syscall = syscall;
  if (ioctl) error.ioctl = ioctl;
  throw error;
}

/** What every fake device looks like; the default is edu as the kernel reports it. */
export interface FakeDeviceSpec {
  /** VFIO_DEVICE_GET_INFO flags: default RESET | PCI. */
  flags?: number;
  /** By index; a missing entry answers EINVAL (ERR on a device that is not PCIe). */
  irqs?: ({ flags: number; count: number } | undefined)[];
  /** By index; a missing entry answers EINVAL (VGA). */
  regions?: (
    { flags: number; size: bigint; capabilities?: RegionInfo['capabilities'] } | undefined
  )[];
  /** An MSI-X capability in config space. */
  msix?: {
    vectors: number;
    table: { bar: number; offset: number };
    pba: { bar: number; offset: number };
  };
  /** Other devices on the bus a hot reset resets; null: no slot or bus reset (ENODEV). */
  hotResetPeers?: { bdf: string; group: number }[] | null;
}

const IRQ_EVENTFD = 1;
const IRQ_MASKABLE = 2;
const IRQ_AUTOMASKED = 4;
const IRQ_NORESIZE = 8;

export const EDU_SPEC: Required<Omit<FakeDeviceSpec, 'msix'>> = {
  flags: 3,
  irqs: [
    { flags: IRQ_EVENTFD | IRQ_MASKABLE | IRQ_AUTOMASKED, count: 1 },
    { flags: IRQ_EVENTFD | IRQ_NORESIZE, count: 1 },
    { flags: IRQ_EVENTFD | IRQ_NORESIZE, count: 0 },
    undefined,
    { flags: IRQ_EVENTFD | IRQ_NORESIZE, count: 1 },
  ],
  regions: [
    { flags: 7, size: 0x100000n },
    { flags: 0, size: 0n },
    { flags: 0, size: 0n },
    { flags: 0, size: 0n },
    { flags: 0, size: 0n },
    { flags: 0, size: 0n },
    { flags: 0, size: 0n },
    { flags: 3, size: 256n },
  ],
  hotResetPeers: [],
};

const DATA_NONE = 1;
const DATA_BOOL = 2;
const DATA_EVENTFD = 4;
const ACTION_MASK = 8;
const ACTION_UNMASK = 16;
const ACTION_TRIGGER = 32;

interface DeviceState {
  group: number;
  name: string;
  mode: { index: number; vectors: number } | null;
  /** index -> vector -> eventfd */
  triggers: Map<number, Map<number, number>>;
  masked: boolean;
  memory: Map<number, ArrayBuffer>;
}

interface FakeEventfd {
  count: bigint;
  watchers: Set<(count: bigint) => void>;
  pending: boolean;
}

/** What the device side needs of the rest of the fake kernel. */
export interface FakeKernelHooks {
  newFd(): number;
  log(call: string): void;
  groupOf(groupFd: number): number | undefined;
}

export class FakeDevices {
  readonly spec: Required<Omit<FakeDeviceSpec, 'msix'>> & Pick<FakeDeviceSpec, 'msix'>;
  private readonly devices = new Map<number, DeviceState>();
  private readonly eventfds = new Map<number, FakeEventfd>();

  constructor(
    private readonly hooks: FakeKernelHooks,
    spec: FakeDeviceSpec = {},
  ) {
    this.spec = { ...EDU_SPEC, ...spec };
  }

  /** A device's kernel-side state, for tests. */
  state(fd: number): Readonly<DeviceState> | undefined {
    return this.devices.get(fd);
  }

  /** The bytes behind a region of a device, as the device would hold them. */
  memory(fd: number, index: number): Uint8Array {
    return new Uint8Array(this.backing(this.device(fd, 'memory'), index));
  }

  /** Open eventfds: the fake's equivalent of /proc/self/fd for them. */
  openEventfds(): number[] {
    return [...this.eventfds.keys()];
  }

  /** The fd was closed: forget it. */
  close(fd: number): void {
    this.devices.delete(fd);
    this.eventfds.delete(fd);
  }

  functions(): Pick<
    NativeBinding,
    | 'groupGetDeviceFd'
    | 'deviceGetInfo'
    | 'deviceGetRegionInfo'
    | 'deviceGetIrqInfo'
    | 'deviceSetIrqs'
    | 'deviceReset'
    | 'deviceGetPciHotResetInfo'
    | 'devicePciHotReset'
    | 'pread'
    | 'pwrite'
    | 'mmapRegion'
    | 'unmapRegion'
    | 'eventfdCreate'
    | 'eventfdRead'
    | 'eventfdWrite'
    | 'eventfdWatch'
  > {
    return {
      groupGetDeviceFd: (groupFd, name) => {
        const group = this.hooks.groupOf(groupFd);
        if (group === undefined) err('EBADF', 'ioctl', 'VFIO_GROUP_GET_DEVICE_FD');
        const fd = this.hooks.newFd();
        this.devices.set(fd, {
          group,
          name,
          mode: null,
          triggers: new Map(),
          masked: false,
          memory: new Map(),
        });
        return fd;
      },
      deviceGetInfo: (fd) => {
        this.device(fd, 'VFIO_DEVICE_GET_INFO');
        return { flags: this.spec.flags, numRegions: 9, numIrqs: 5 };
      },
      deviceGetRegionInfo: (fd, index) => {
        this.device(fd, 'VFIO_DEVICE_GET_REGION_INFO');
        const r = this.spec.regions[index];
        if (!r) err('EINVAL', 'ioctl', 'VFIO_DEVICE_GET_REGION_INFO');
        return {
          index,
          flags: r.flags,
          size: r.size,
          offset: BigInt(index) << 40n,
          capabilities: r.capabilities ?? [],
        };
      },
      deviceGetIrqInfo: (fd, index) => {
        this.device(fd, 'VFIO_DEVICE_GET_IRQ_INFO');
        const irq = this.spec.irqs[index];
        if (!irq) err('EINVAL', 'ioctl', 'VFIO_DEVICE_GET_IRQ_INFO');
        return { index, ...irq };
      },
      deviceSetIrqs: (fd, index, start, count, flags, data) =>
        this.setIrqs(fd, index, start, count, flags, data),
      deviceReset: (fd) => {
        this.device(fd, 'VFIO_DEVICE_RESET');
        if (!(this.spec.flags & 1)) err('EINVAL', 'ioctl', 'VFIO_DEVICE_RESET');
      },
      deviceGetPciHotResetInfo: (fd, capacity): HotResetInfo => {
        const devices = this.hotResetDevices(this.device(fd, 'VFIO_DEVICE_GET_PCI_HOT_RESET_INFO'));
        if (devices.length > capacity) return { flags: 0, count: devices.length, devices: null };
        return { flags: 0, count: devices.length, devices };
      },
      devicePciHotReset: (fd, groupFds) => {
        const ioctl = 'VFIO_DEVICE_PCI_HOT_RESET';
        const devices = this.hotResetDevices(this.device(fd, ioctl));
        if (groupFds.length === 0 || groupFds.length > devices.length)
          err('EINVAL', 'ioctl', ioctl);
        const held = groupFds.map((g) => this.hooks.groupOf(g) ?? err('EBADF', 'ioctl', ioctl));
        if (devices.some((d) => !held.includes(d.groupId))) err('EINVAL', 'ioctl', ioctl);
      },
      pread: (fd, target, offset) => this.transfer(fd, target, offset, false),
      pwrite: (fd, source, offset) => this.transfer(fd, source, offset, true),
      mmapRegion: (fd, offset, size) => {
        const device = this.devices.get(fd);
        if (!device) return new ArrayBuffer(size);
        this.hooks.log('mmap');
        const index = Number(offset >> 40n);
        const backing = this.backing(device, index);
        // The whole region: the very memory pread and pwrite see. A sparse area: its own.
        return (offset & 0xffffffffffn) === 0n && size === backing.byteLength
          ? backing
          : new ArrayBuffer(size);
      },
      unmapRegion: () => undefined,
      eventfdCreate: () => {
        const fd = this.hooks.newFd();
        this.eventfds.set(fd, { count: 0n, watchers: new Set(), pending: false });
        return fd;
      },
      eventfdRead: (fd) => {
        const e = this.eventfds.get(fd) ?? err('EBADF', 'read');
        const count = e.count;
        e.count = 0n;
        return count;
      },
      eventfdWrite: (fd, value) => this.signal(fd, value),
      eventfdWatch: (fd, onEvent) => {
        const e = this.eventfds.get(fd) ?? err('EBADF', 'epoll_ctl');
        e.watchers.add(onEvent);
        return { stop: () => e.watchers.delete(onEvent) };
      },
    };
  }

  /** Adds to an eventfd's counter, as a device interrupt does; watchers see it on a later tick. */
  signal(fd: number, value = 1n): void {
    const e = this.eventfds.get(fd) ?? err('EBADF', 'write');
    e.count += value;
    if (e.watchers.size === 0 || e.pending) return;
    e.pending = true;
    setImmediate(() => {
      e.pending = false;
      if (e.watchers.size === 0 || e.count === 0n) return;
      const count = e.count;
      e.count = 0n;
      for (const watcher of [...e.watchers]) watcher(count);
    });
  }

  private device(fd: number, ioctl: string): DeviceState {
    const device = this.devices.get(fd);
    if (!device) err('EBADF', 'ioctl', ioctl);
    this.hooks.log(ioctl);
    return device;
  }

  private backing(device: DeviceState, index: number): ArrayBuffer {
    let memory = device.memory.get(index);
    if (!memory) {
      memory = new ArrayBuffer(Number(this.spec.regions[index]?.size ?? 0n));
      if (index === 7) this.initConfig(new DataView(memory));
      device.memory.set(index, memory);
    }
    return memory;
  }

  private initConfig(config: DataView): void {
    const msix = this.spec.msix;
    if (!msix || config.byteLength < 0x50) return;
    config.setUint16(0x06, 0x10, true); // status: capabilities list
    config.setUint8(0x34, 0x40);
    config.setUint8(0x40, 0x11);
    config.setUint8(0x41, 0);
    config.setUint16(0x42, msix.vectors - 1, true);
    config.setUint32(0x44, msix.table.offset | msix.table.bar, true);
    config.setUint32(0x48, msix.pba.offset | msix.pba.bar, true);
  }

  /** vfio-pci's region read/write: EINVAL at or past the end, short at the end, no ROM writes. */
  private transfer(fd: number, bytes: Uint8Array, offset: bigint, write: boolean): number {
    const device = this.device(fd, write ? 'pwrite' : 'pread');
    const index = Number(offset >> 40n);
    const region = this.spec.regions[index];
    const pos = Number(offset & 0xffffffffffn);
    if (!region || pos >= Number(region.size) || (write && index === 6)) {
      err('EINVAL', write ? 'pwrite' : 'pread');
    }
    const memory = new Uint8Array(this.backing(device, index));
    const n = Math.min(bytes.length, memory.length - pos);
    if (write) memory.set(bytes.subarray(0, n), pos);
    else bytes.set(memory.subarray(pos, pos + n));
    return n;
  }

  private hotResetDevices(device: DeviceState) {
    if (this.spec.hotResetPeers === null) {
      err('ENODEV', 'ioctl', 'VFIO_DEVICE_GET_PCI_HOT_RESET_INFO');
    }
    return [{ bdf: device.name, group: device.group }, ...this.spec.hotResetPeers].map((d) => {
      const [segment, bus, slotFn] = d.bdf.split(':');
      const [slot, fn] = slotFn.split('.');
      return {
        groupId: d.group,
        segment: parseInt(segment, 16),
        bus: parseInt(bus, 16),
        devfn: (parseInt(slot, 16) << 3) | Number(fn),
      };
    });
  }

  /** vfio_pci_set_irqs_ioctl, as far as the library depends on it. */
  private setIrqs(
    fd: number,
    index: number,
    start: number,
    count: number,
    flags: number,
    data?: number[] | boolean[],
  ): void {
    const ioctl = 'VFIO_DEVICE_SET_IRQS';
    const device = this.device(fd, ioctl);
    const fail = (code: keyof typeof ERRNO): never => err(code, 'ioctl', ioctl);
    const irq = this.spec.irqs[index];
    if (!irq || start + count > irq.count) fail('EINVAL');
    const action = flags & (ACTION_MASK | ACTION_UNMASK | ACTION_TRIGGER);
    const routes = device.triggers.get(index) ?? new Map<number, number>();
    device.triggers.set(index, routes);
    if (action !== ACTION_TRIGGER) {
      if (index !== 0) fail('ENOTTY');
      if (device.mode?.index !== 0 || start !== 0 || count !== 1) fail('EINVAL');
      if (flags & DATA_EVENTFD) {
        if (action === ACTION_MASK) fail('ENOTTY');
        return;
      }
      device.masked = action === ACTION_MASK;
      return;
    }
    const signal = (v: number) => {
      const target = routes.get(v);
      if (target !== undefined && (!(flags & DATA_BOOL) || (data as boolean[])[v - start])) {
        this.signal(target);
      }
    };
    if (index > 2) {
      // ERR and REQ: one eventfd, loopback with DATA_NONE/BOOL
      if (start !== 0 || count > 1) fail('EINVAL');
      if (flags & DATA_EVENTFD) {
        const efd = (data as number[])[0];
        if (efd >= 0 && !this.eventfds.has(efd)) fail('EBADF');
        if (efd < 0) routes.delete(0);
        else routes.set(0, efd);
      } else if (!routes.has(0)) {
        fail('EINVAL');
      } else if (count === 0) {
        routes.delete(0);
      } else {
        signal(0);
      }
      return;
    }
    if (device.mode && device.mode.index === index && count === 0 && flags & DATA_NONE) {
      device.mode = null;
      routes.clear();
      return;
    }
    if (device.mode && device.mode.index !== index) fail('EINVAL');
    if (flags & DATA_EVENTFD) {
      if (index === 0 && (start !== 0 || count !== 1)) fail('EINVAL');
      if (!device.mode) device.mode = { index, vectors: start + count };
      if (start + count > device.mode.vectors) fail('EINVAL');
      (data as number[]).forEach((efd, i) => {
        if (efd >= 0 && !this.eventfds.has(efd)) fail('EBADF');
        if (efd < 0) routes.delete(start + i);
        else routes.set(start + i, efd);
      });
      return;
    }
    if (!device.mode) fail('EINVAL');
    for (let v = start; v < start + count; v += 1) signal(v);
  }
}
