// A device's interrupts as a VMM wires them: each vector of an index routed to an eventfd the
// caller holds (a KVM irqfd, usually), ranges enabled, changed and disabled, INTx masked and
// unmasked (or unmasked by a resample eventfd, as KVM does), and the kernel's loopback trigger.
// The book below keeps what the kernel does not say back: which of INTx, MSI and MSI-X is on,
// with how many vectors, and which vectors have a trigger, so that a call vfio-pci would refuse
// with a bare EINVAL is refused first, typed.
import type { IrqInfo, NativeBinding, NativeConstants, NativeError } from '../binding';
import {
  ArgumentRangeError,
  DeviceBusyError,
  InterruptNotEnabledError,
  InterruptNotSupportedError,
  InterruptResizeError,
  InterruptsBusyError,
  InvalidArgumentError,
  callNative,
  type InterruptAction,
} from '../errors';
import { describe, toIndex } from '../validate';
import { EventFd, type EventFdLike } from './eventfd';

/** vfio-pci's fixed IRQ indexes. */
export const PCI_IRQ_INDEX = { intx: 0, msi: 1, msix: 2, err: 3, req: 4 } as const;

const IRQ_NAMES = ['INTX', 'MSI', 'MSIX', 'ERR', 'REQ'];

export function irqIndexName(index: number): string {
  return IRQ_NAMES[index] ?? `IRQ${index}`;
}

/** VFIO_DEVICE_GET_IRQ_INFO, decoded. */
export interface IrqIndexInfo extends IrqInfo {
  /** 'INTX', 'MSI', 'MSIX', 'ERR', 'REQ'. */
  name: string;
  /** Triggers can be eventfds (VFIO_IRQ_INFO_EVENTFD). */
  eventfd: boolean;
  /** Mask and unmask work (VFIO_IRQ_INFO_MASKABLE: INTx on vfio-pci). */
  maskable: boolean;
  /** The kernel masks it after each interrupt: unmask to get the next (VFIO_IRQ_INFO_AUTOMASKED). */
  automasked: boolean;
  /** The vector count is fixed while the index is enabled (VFIO_IRQ_INFO_NORESIZE). */
  noresize: boolean;
}

export function decodeIrq(c: NativeConstants, irq: IrqInfo): IrqIndexInfo {
  return {
    ...irq,
    name: irqIndexName(irq.index),
    eventfd: (irq.flags & c.VFIO_IRQ_INFO_EVENTFD) !== 0,
    maskable: (irq.flags & c.VFIO_IRQ_INFO_MASKABLE) !== 0,
    automasked: (irq.flags & c.VFIO_IRQ_INFO_AUTOMASKED) !== 0,
    noresize: (irq.flags & c.VFIO_IRQ_INFO_NORESIZE) !== 0,
  };
}

/** A range of vectors of an index; the default is every vector it has. */
export interface VectorRange {
  start?: number;
  count?: number;
}

/** Which vectors of a range to act on (VFIO_IRQ_SET_DATA_BOOL); all of them when absent. */
export interface VectorSelection extends VectorRange {
  vectors?: boolean[];
}

/** The indexes of which vfio-pci drives one at a time. */
function isMode(index: number): boolean {
  return index <= PCI_IRQ_INDEX.msix;
}

function toFd(value: EventFdLike | null, name: string): number {
  if (value === null) return -1;
  if (value instanceof EventFd) return value.fd;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0x7fffffff) {
    return value;
  }
  throw new InvalidArgumentError(
    `${name} must be an eventfd (a fd number or an EventFd) or null, got ${describe(value)}`,
  );
}

/** @internal The interrupt side of one Device. */
export class IrqBook {
  private mode: { index: number; vectors: number } | null = null;
  /** index -> vector -> the eventfd number routed there. */
  private readonly routes = new Map<number, Map<number, number>>();

  constructor(
    private readonly binding: NativeBinding,
    /** The device fd, after the device's own checks. */
    private readonly fd: () => number,
    private readonly device: string,
    private readonly info: (index: number) => IrqIndexInfo,
  ) {}

  /** The vectors of `index` that have a trigger eventfd, and the eventfd of each. */
  routed(index: number): Map<number, number> {
    return new Map([...(this.routes.get(index) ?? [])].sort(([a], [b]) => a - b));
  }

  setTriggers(index: number, eventfds: (EventFdLike | null)[], start: number): void {
    const info = this.present(index, 'trigger');
    if (!Array.isArray(eventfds)) {
      throw new InvalidArgumentError(`eventfds must be an array, got ${describe(eventfds)}`);
    }
    const range = this.range(info, { start, count: eventfds.length });
    const fds = eventfds.map((e, i) => toFd(e, `eventfds[${i}]`));
    if (isMode(index)) {
      if (this.mode && this.mode.index !== index) {
        throw new InterruptsBusyError({
          device: this.device,
          requested: index,
          requestedName: info.name,
          active: this.mode.index,
          activeName: irqIndexName(this.mode.index),
        });
      }
      const needed = range.start + range.count;
      if (this.mode && info.noresize && needed > this.mode.vectors) {
        throw new InterruptResizeError({
          device: this.device,
          index,
          indexName: info.name,
          enabled: this.mode.vectors,
          requested: needed,
        });
      }
    }
    const c = this.binding.constants;
    this.set(
      info,
      'trigger',
      range,
      c.VFIO_IRQ_SET_DATA_EVENTFD | c.VFIO_IRQ_SET_ACTION_TRIGGER,
      fds,
    );
    if (isMode(index) && !this.mode) this.mode = { index, vectors: range.start + range.count };
    const routes = this.routes.get(index) ?? new Map<number, number>();
    fds.forEach((fd, i) =>
      fd < 0 ? routes.delete(range.start + i) : routes.set(range.start + i, fd),
    );
    this.routes.set(index, routes);
  }

  /** The whole index off (no range), or the range's vectors de-assigned (the index stays on). */
  disable(index: number, range?: VectorRange): void {
    const info = this.present(index, 'trigger');
    const c = this.binding.constants;
    const on = isMode(index) ? this.mode?.index === index : (this.routes.get(index)?.size ?? 0) > 0;
    if (range === undefined) {
      // The kernel says EINVAL for an index that is off: off is off.
      if (!on) return;
      this.set(
        info,
        'trigger',
        { start: 0, count: 0 },
        c.VFIO_IRQ_SET_DATA_NONE | c.VFIO_IRQ_SET_ACTION_TRIGGER,
      );
      this.routes.delete(index);
      if (isMode(index)) this.mode = null;
      return;
    }
    const r = this.range(info, range);
    // De-assigning vectors of an index that is off would turn it on: nothing to do.
    if (!on) return;
    this.set(
      info,
      'trigger',
      r,
      c.VFIO_IRQ_SET_DATA_EVENTFD | c.VFIO_IRQ_SET_ACTION_TRIGGER,
      new Array<number>(r.count).fill(-1),
    );
    for (let v = r.start; v < r.start + r.count; v += 1) this.routes.get(index)?.delete(v);
  }

  /** @internal For DeviceInterrupts: de-assigns the vectors still routed to `fds`; the index goes off with its last route. */
  release(index: number, fds: ReadonlySet<number>): void {
    const routes = this.routes.get(index);
    if (!routes) return;
    const mine = [...routes].filter(([, fd]) => fds.has(fd)).map(([vector]) => vector);
    if (mine.length === routes.size) {
      this.disable(index);
      return;
    }
    for (const vector of mine) this.disable(index, { start: vector, count: 1 });
  }

  mask(index: number, selection: VectorSelection, unmask: boolean): void {
    const action = unmask ? 'unmask' : 'mask';
    const info = this.maskable(index, action);
    const range = this.range(info, selection);
    this.requireOn(info, action, range);
    const c = this.binding.constants;
    const verb = unmask ? c.VFIO_IRQ_SET_ACTION_UNMASK : c.VFIO_IRQ_SET_ACTION_MASK;
    const bools = this.bools(selection, range);
    if (bools) this.set(info, action, range, c.VFIO_IRQ_SET_DATA_BOOL | verb, bools);
    else this.set(info, action, range, c.VFIO_IRQ_SET_DATA_NONE | verb);
  }

  /** ACTION_MASK or ACTION_UNMASK with an eventfd: a write to it masks (unmasks) the vector. */
  setMaskEventfd(
    index: number,
    eventfd: EventFdLike | null,
    vector: number,
    unmask: boolean,
  ): void {
    const action = unmask ? 'unmask-eventfd' : 'mask-eventfd';
    const info = this.maskable(index, action);
    const range = this.range(info, { start: vector, count: 1 });
    const fd = toFd(eventfd, 'eventfd');
    this.requireOn(info, action, range);
    const c = this.binding.constants;
    const verb = unmask ? c.VFIO_IRQ_SET_ACTION_UNMASK : c.VFIO_IRQ_SET_ACTION_MASK;
    this.set(info, action, range, c.VFIO_IRQ_SET_DATA_EVENTFD | verb, [fd]);
  }

  /** The kernel signals the vectors' trigger eventfds itself (DATA_NONE/DATA_BOOL loopback). */
  loopback(index: number, selection: VectorSelection): void {
    const info = this.present(index, 'trigger');
    const range = this.range(info, selection);
    const routes = this.routes.get(index);
    const missing: number[] = [];
    for (let v = range.start; v < range.start + range.count; v += 1) {
      if (!routes?.has(v)) missing.push(v);
    }
    if (missing.length > 0) {
      throw new InterruptNotEnabledError({
        device: this.device,
        index,
        indexName: info.name,
        action: 'loopback trigger',
        vectors: missing,
      });
    }
    const c = this.binding.constants;
    const bools = this.bools(selection, range);
    const flags = c.VFIO_IRQ_SET_ACTION_TRIGGER;
    if (bools) this.set(info, 'trigger', range, c.VFIO_IRQ_SET_DATA_BOOL | flags, bools);
    else this.set(info, 'trigger', range, c.VFIO_IRQ_SET_DATA_NONE | flags);
  }

  /** The index's info, refusing an index the device lacks. */
  private present(index: number, action: InterruptAction): IrqIndexInfo {
    const i = toIndex('index', index, 0xffff);
    let info: IrqIndexInfo;
    try {
      info = this.info(i);
    } catch (error) {
      // vfio-pci answers EINVAL for an index it does not offer (ERR on a device that is not PCIe).
      if ((error as { code?: unknown }).code !== 'EINVAL') throw error;
      info = { index: i, name: irqIndexName(i), flags: 0, count: 0 } as IrqIndexInfo;
    }
    if (info.count === 0) throw this.unsupported(info, action);
    return info;
  }

  private maskable(index: number, action: InterruptAction): IrqIndexInfo {
    const info = this.present(index, action);
    if (!info.maskable) throw this.unsupported(info, action);
    return info;
  }

  private unsupported(info: IrqIndexInfo, action: InterruptAction): InterruptNotSupportedError {
    return new InterruptNotSupportedError({
      device: this.device,
      index: info.index,
      indexName: info.name,
      action,
      count: info.count,
      flags: info.flags,
    });
  }

  private range(info: IrqIndexInfo, range: VectorRange): { start: number; count: number } {
    const start = toIndex('start', range.start ?? 0, 0xffff);
    const count = toIndex('count', range.count ?? info.count - start, 0xffff);
    if (count < 1 || start + count > info.count) {
      throw new ArgumentRangeError(
        `${info.name} of ${this.device} has ${info.count} vector(s): vectors ${start} to ` +
          `${start + count - 1} are not a range of them`,
      );
    }
    return { start, count };
  }

  private bools(selection: VectorSelection, range: { count: number }): boolean[] | undefined {
    if (selection.vectors === undefined) return undefined;
    const v = selection.vectors;
    if (!Array.isArray(v) || v.length !== range.count || v.some((b) => typeof b !== 'boolean')) {
      throw new InvalidArgumentError(
        `vectors must be an array of ${range.count} boolean(s), got ${describe(v)}`,
      );
    }
    return [...v];
  }

  /** Mask and unmask act on an index that is on: INTx with a trigger set (the kernel says EINVAL otherwise). */
  private requireOn(
    info: IrqIndexInfo,
    action: string,
    range: { start: number; count: number },
  ): void {
    const on = isMode(info.index) ? this.mode?.index === info.index : this.routes.has(info.index);
    if (on) return;
    throw new InterruptNotEnabledError({
      device: this.device,
      index: info.index,
      indexName: info.name,
      action,
      vectors: Array.from({ length: range.count }, (_, i) => range.start + i),
    });
  }

  private set(
    info: IrqIndexInfo,
    action: InterruptAction,
    range: { start: number; count: number },
    flags: number,
    data?: number[] | boolean[],
  ): void {
    const fd = this.fd();
    callNative(
      () => `${action} of ${info.name} vectors ${range.start}+${range.count} of ${this.device}`,
      () => this.binding.deviceSetIrqs(fd, info.index, range.start, range.count, flags, data),
      (native) => this.classify(info, action, native),
    );
  }

  private classify(
    info: IrqIndexInfo,
    action: InterruptAction,
    native: NativeError,
  ): Error | undefined {
    if (native.code === 'EBUSY' || native.code === 'EAGAIN') {
      return new DeviceBusyError({
        device: this.device,
        operation: `${action} of ${info.name}`,
        native,
      });
    }
    if (native.code === 'ENOTTY') return this.unsupported(info, action);
    return undefined;
  }
}
