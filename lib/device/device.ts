// A device fd: info, regions (config space, mmap'd BARs, access through the fd, the parts a
// VMM must trap), interrupts (routed to the caller's eventfds or watched from JavaScript),
// resets (the device's own, and a hot reset of its slot or bus).
import type { MmioWidth } from '../binding';
import { installDispose } from '../dispose';
import {
  ArgumentRangeError,
  InvalidArgumentError,
  RegisterWidthError,
  VfioSystemError,
  callNative,
} from '../errors';
import { Group } from '../group';
import { Handle } from '../handle';
import { MmioRegion } from '../mmio';
import { describe, orDefault, toIndex, toOptions } from '../validate';
import { toEndianness, toOffset, type Endianness } from './access';
import type { EventFdLike } from './eventfd';
import { DeviceInterrupts, type DeviceErrorEvent, type DeviceRequestEvent } from './interrupts';
import {
  IrqBook,
  PCI_IRQ_INDEX,
  decodeIrq,
  type IrqIndexInfo,
  type VectorRange,
  type VectorSelection,
} from './irqs';
import {
  RegionIo,
  decodeRegion,
  readMsixLayout,
  trappedAreas,
  type DeviceRegion,
  type MsixLayout,
  type TrappedArea,
} from './regions';
import {
  hotResetDevice,
  readHotResetInfo,
  resetDevice,
  type HotResetInfo,
  type ResetTarget,
} from './reset';

/** PCI command register: offset and the bits the library sets. */
const PCI_COMMAND = 0x04;
const PCI_COMMAND_MEMORY = 0x2;
const PCI_COMMAND_MASTER = 0x4;

export interface DeviceInfo {
  flags: number;
  regionCount: number;
  irqCount: number;
  /** VFIO_DEVICE_FLAGS_RESET: VFIO_DEVICE_RESET works. */
  resettable: boolean;
  isPci: boolean;
}

export type ConfigWidth = 8 | 16 | 32;

export class Device extends Handle {
  /** @internal */ readonly fd: number;
  private readonly irqBook: IrqBook;
  private config?: RegionIo;
  /** mmaps and interrupt routes of this device: an mmap keeps the device (and so the group) open. */
  private readonly mappedRegions = new Set<MmioRegion>();
  private readonly interruptRoutes = new Set<DeviceInterrupts>();

  private constructor(
    private readonly group: Group,
    readonly name: string,
  ) {
    super(group.binding, `device ${name}`);
    this.fd = callNative(`opening device ${name} of group ${group.number}`, () =>
      group.binding.groupGetDeviceFd(group.fd, name),
    );
    this.irqBook = new IrqBook(
      this.binding,
      () => this.usableFd(),
      name,
      (index) => this.irqInfo(index),
    );
  }

  /** @internal Use Group.openDevice. */
  static fromGroup(group: Group, name: string): Device {
    if (typeof name !== 'string' || name.length === 0 || name.length > 255 || name.includes('\0')) {
      throw new ArgumentRangeError(`device name must be a non-empty string such as '0000:01:00.0'`);
    }
    return new Device(group, name);
  }

  info(): DeviceInfo {
    const fd = this.usableFd();
    const info = callNative(`reading the info of ${this.name}`, () =>
      this.binding.deviceGetInfo(fd),
    );
    const c = this.binding.constants;
    return {
      flags: info.flags,
      regionCount: info.numRegions,
      irqCount: info.numIrqs,
      resettable: (info.flags & c.VFIO_DEVICE_FLAGS_RESET) !== 0,
      isPci: (info.flags & c.VFIO_DEVICE_FLAGS_PCI) !== 0,
    };
  }

  region(index: number): DeviceRegion {
    const fd = this.usableFd();
    const i = toIndex('index', index, 0xffff);
    const info = callNative(`reading region ${i} of ${this.name}`, () =>
      this.binding.deviceGetRegionInfo(fd, i),
    );
    return decodeRegion(this.binding.constants, info);
  }

  /** Every region the device has: vfio-pci answers EINVAL for fixed indexes it lacks (VGA). */
  regions(): DeviceRegion[] {
    return present(this.info().regionCount, (i) => this.region(i));
  }

  irqInfo(index: number): IrqIndexInfo {
    const fd = this.usableFd();
    const i = toIndex('index', index, 0xffff);
    const irq = callNative(`reading IRQ ${i} of ${this.name}`, () =>
      this.binding.deviceGetIrqInfo(fd, i),
    );
    return decodeIrq(this.binding.constants, irq);
  }

  /** Every IRQ index the device has (ERR exists only on PCIe devices). */
  irqs(): IrqIndexInfo[] {
    return present(this.info().irqCount, (i) => this.irqInfo(i));
  }

  /** Reads `width` bits of PCI config space at `offset` (little-endian, as PCI defines it). */
  readConfig(offset: number, width: ConfigWidth = 32): number {
    return Number(this.configIo().read(offset, this.configWidth(offset, width)));
  }

  writeConfig(offset: number, value: number, width: ConfigWidth = 32): void {
    const w = this.configWidth(offset, width);
    if (!Number.isInteger(value) || value < 0 || value >= 2 ** w) {
      throw new ArgumentRangeError(
        `value must be an integer in [0, 2^${w}), got ${describe(value)}`,
      );
    }
    this.configIo().write(offset, w, value);
  }

  /** Sets Memory Space and Bus Master in the command register: no DMA happens without it. */
  enableBusMaster(): void {
    const command = this.readConfig(PCI_COMMAND, 16);
    this.writeConfig(PCI_COMMAND, command | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 16);
  }

  disableBusMaster(): void {
    const command = this.readConfig(PCI_COMMAND, 16);
    this.writeConfig(PCI_COMMAND, command & ~PCI_COMMAND_MASTER, 16);
  }

  /**
   * mmaps what the kernel lets a process mmap of a region (a BAR): all of it, or its
   * sparse-mmap areas. Registers are accessed with the given byte order.
   */
  mapRegion(index: number, options?: { endianness?: Endianness }): MmioRegion {
    const endianness = toEndianness(options, 'little');
    const mmio = MmioRegion.map(
      this.binding,
      this.usableFd(),
      this.region(index),
      { device: this.name, endianness },
      () => this.mappedRegions.delete(mmio),
    );
    this.mappedRegions.add(mmio);
    return mmio;
  }

  /** Register and byte access to any region through the device fd (pread/pwrite). */
  regionIo(index: number, options?: { endianness?: Endianness }): RegionIo {
    const endianness = toEndianness(options, 'little');
    return new RegionIo(
      this.binding,
      () => this.usableFd(),
      this.region(index),
      this.name,
      endianness,
    );
  }

  /** The MSI-X table and PBA as the config space places them; null without MSI-X. */
  msixLayout(): MsixLayout | null {
    return readMsixLayout((offset, width) => this.readConfig(offset, width));
  }

  /**
   * The parts of a region a VMM must trap rather than map into its guest: what the kernel
   * does not let it mmap, and the MSI-X table and PBA (which the host kernel programs).
   */
  trappedAreas(index: number): TrappedArea[] {
    return trappedAreas(this.region(index), this.msixLayout());
  }

  /**
   * Routes vectors start.. of an IRQ index to eventfds (fd numbers the caller owns, or
   * EventFds); null de-assigns a vector. The first call enables the index with start + length
   * vectors (MSI, and MSI-X without dynamic allocation, keep that count until disabled).
   */
  setInterruptTriggers(
    index: number,
    eventfds: (EventFdLike | null)[],
    options?: { start?: number },
  ): void {
    const start = orDefault(toOptions<{ start: number }>('options', options).start, 0);
    this.irqBook.setTriggers(index, eventfds, start);
  }

  /** Turns an index off (no range) or de-assigns a range of its vectors. Off is off: no error. */
  disableInterrupts(index: number, range?: VectorRange): void {
    this.irqBook.disable(
      index,
      range === undefined ? undefined : toOptions<VectorRange>('range', range),
    );
  }

  /** The vectors of an index routed through this Device, and the eventfd number of each. */
  interruptTriggers(index: number): Map<number, number> {
    this.assertUsable();
    return this.irqBook.routed(toIndex('index', index, 0xffff));
  }

  /** Masks vectors (default: the whole index); `vectors` picks some of the range (DATA_BOOL). */
  maskInterrupt(index: number, selection?: VectorSelection): void {
    this.irqBook.mask(index, toOptions<VectorSelection>('selection', selection), false);
  }

  /** Unmasks: INTx delivers its next interrupt only after this (vfio-pci masks it at each one). */
  unmaskInterrupt(index: number, selection?: VectorSelection): void {
    this.irqBook.mask(index, toOptions<VectorSelection>('selection', selection), true);
  }

  /** A write to `eventfd` unmasks the vector: KVM's resamplefd for INTx. null removes it. */
  setUnmaskEventfd(
    index: number,
    eventfd: EventFdLike | null,
    options?: { vector?: number },
  ): void {
    const vector = orDefault(toOptions<{ vector: number }>('options', options).vector, 0);
    this.irqBook.setMaskEventfd(index, eventfd, vector, true);
  }

  /** A write to `eventfd` masks the vector (vfio-pci does not implement it: typed refusal). */
  setMaskEventfd(index: number, eventfd: EventFdLike | null, options?: { vector?: number }): void {
    const vector = orDefault(toOptions<{ vector: number }>('options', options).vector, 0);
    this.irqBook.setMaskEventfd(index, eventfd, vector, false);
  }

  /** The kernel signals the vectors' trigger eventfds itself: a loopback test of the wiring. */
  triggerInterrupt(index: number, selection?: VectorSelection): void {
    this.irqBook.loopback(index, toOptions<VectorSelection>('selection', selection));
  }

  /**
   * Routes vectors of `index` to eventfds the library makes and watches (one thread per
   * process for every watched eventfd): each arrives as an 'interrupt' event (vector, count).
   */
  enableInterrupts(index: number, options?: { start?: number; count?: number }): DeviceInterrupts {
    this.assertUsable();
    const opts = toOptions<{ start: number; count: number }>('options', options);
    const start = toIndex('options.start', orDefault(opts.start, 0), 0xffff);
    const count = toIndex('options.count', orDefault(opts.count, 1), 0xffff);
    if (count < 1) throw new ArgumentRangeError(`options.count must be at least 1, got ${count}`);
    const route = DeviceInterrupts.enable(
      this.binding,
      this.irqBook,
      toIndex('index', index, 0xffff),
      { start, count },
      () => this.interruptRoutes.delete(route),
    );
    this.interruptRoutes.add(route);
    return route;
  }

  /**
   * The kernel asking for the device back (REQ index: an unbind from vfio-pci, a hot unplug),
   * as typed events. The unbind waits until the device is closed: close it in the listener.
   */
  onRequest(listener: (event: DeviceRequestEvent) => void): DeviceInterrupts {
    return this.notify<DeviceRequestEvent>(PCI_IRQ_INDEX.req, listener, (count) => ({
      kind: 'request',
      device: this.name,
      count,
    }));
  }

  /** Errors reported for the device (ERR index: PCIe devices; AER and EEH error_detected). */
  onError(listener: (event: DeviceErrorEvent) => void): DeviceInterrupts {
    return this.notify<DeviceErrorEvent>(PCI_IRQ_INDEX.err, listener, (count) => ({
      kind: 'error',
      device: this.name,
      count,
    }));
  }

  /** VFIO_DEVICE_RESET; refused before the ioctl where the device flags offer no reset. */
  reset(): void {
    resetDevice(this.resetTarget());
  }

  /** The devices (and their groups) that a hot reset of this device's slot or bus resets. */
  hotResetInfo(): HotResetInfo {
    return readHotResetInfo(this.resetTarget());
  }

  /**
   * Resets the device's slot or bus, with every device behind it. The kernel wants every
   * IOMMU group involved held by the caller: `groups` (default: this device's own group) must
   * include them all, or the call is refused before the ioctl, naming the missing ones.
   */
  hotReset(groups?: Group[]): void {
    const target = this.resetTarget();
    const list = groups ?? [this.group];
    if (!Array.isArray(list) || list.some((g) => !(g instanceof Group))) {
      throw new InvalidArgumentError(`groups must be an array of Group, got ${describe(list)}`);
    }
    hotResetDevice(
      target,
      list.filter((g) => !g.closed).map((g) => ({ number: g.number, fd: g.fd })),
    );
  }

  /** Unmaps its regions and frees its interrupt routes, then closes the device fd. */
  close(): void {
    if (!this.markClosed()) return;
    // Closing the fd turns the device's interrupts off in the kernel: no ioctl needed here.
    for (const route of this.interruptRoutes) route.deviceClosed();
    this.interruptRoutes.clear();
    for (const mmio of [...this.mappedRegions]) mmio.unmap();
    this.group.forgetDevice(this);
    callNative(`closing ${this.name}`, () => this.binding.closeFd(this.fd));
  }

  private notify<E>(
    index: number,
    listener: (event: E) => void,
    event: (count: bigint) => E,
  ): DeviceInterrupts {
    if (typeof listener !== 'function') {
      throw new InvalidArgumentError(`listener must be a function, got ${describe(listener)}`);
    }
    const route = this.enableInterrupts(index);
    route.on('interrupt', (_vector, count) => listener(event(count)));
    return route;
  }

  private resetTarget(): ResetTarget {
    const fd = this.usableFd();
    return { binding: this.binding, fd, name: this.name, flags: this.info().flags };
  }

  private usableFd(): number {
    this.assertUsable();
    return this.fd;
  }

  /** Config space is read 8, 16 or 32 bits at a time (readConfig returns a number). */
  private configWidth(offset: unknown, width: unknown): MmioWidth {
    if (width === 8 || width === 16 || width === 32) return width;
    throw new RegisterWidthError({
      device: this.name,
      region: 'CONFIG',
      offset: toOffset(offset),
      width,
    });
  }

  private configIo(): RegionIo {
    this.assertUsable();
    this.config ??= this.regionIo(this.binding.constants.VFIO_PCI_CONFIG_REGION_INDEX);
    return this.config;
  }
}

/** The items of `count` indexes that exist: the kernel answers EINVAL for one the device lacks. */
function present<T>(count: number, read: (index: number) => T): T[] {
  const found: T[] = [];
  for (let index = 0; index < count; index += 1) {
    try {
      found.push(read(index));
    } catch (error) {
      if (!(error instanceof VfioSystemError && error.code === 'EINVAL')) throw error;
    }
  }
  return found;
}

installDispose(Device, 'close');
