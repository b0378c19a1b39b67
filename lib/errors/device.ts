// The errors of a device: resets, interrupts and region access that the device (or vfio-pci)
// does not offer, a busy device, a hot reset missing groups. Each class takes one object of
// facts, keeps each as a field, and builds its message from them.
import type { NativeError } from '../binding';
import { VfioError } from './base';

function hex(value: number | bigint): string {
  return `0x${value.toString(16)}`;
}

function list(numbers: readonly number[]): string {
  return numbers.length === 0 ? 'none' : numbers.join(', ');
}

/** What the kernel's errno said, kept on the typed errors a failed syscall produced. */
export interface SyscallFacts {
  /** Negative errno, as Node's SystemError. */
  errno?: number;
  syscall?: string;
  ioctl?: string;
}

function syscallFacts(native?: NativeError): SyscallFacts {
  return { errno: native?.errno, syscall: native?.syscall, ioctl: native?.ioctl };
}

/** A reset the device does not have: no VFIO_DEVICE_FLAGS_RESET, or no slot/bus reset (ENODEV). */
export class ResetNotSupportedError extends VfioError implements SyscallFacts {
  readonly device: string;
  /** 'function': VFIO_DEVICE_RESET; 'hot': a reset of the device's slot or bus. */
  readonly kind: 'function' | 'hot';
  /** VFIO_DEVICE_GET_INFO flags. */
  readonly flags: number;
  readonly errno?: number;
  readonly syscall?: string;
  readonly ioctl?: string;
  constructor(facts: {
    device: string;
    kind: 'function' | 'hot';
    flags: number;
    native?: NativeError;
  }) {
    super(
      'ERR_VFIO_RESET_NOT_SUPPORTED',
      facts.kind === 'function'
        ? `${facts.device} has no reset the kernel can do (VFIO_DEVICE_GET_INFO flags ` +
            `${hex(facts.flags)} lack VFIO_DEVICE_FLAGS_RESET): see whether a hot reset of its ` +
            'slot or bus can (Device.hotResetInfo), or reset its PE through EEH'
        : `${facts.device} has no slot or bus reset (the kernel says ENODEV): use Device.reset() ` +
            'if its flags offer VFIO_DEVICE_FLAGS_RESET, or reset its PE through EEH',
    );
    this.device = facts.device;
    this.kind = facts.kind;
    this.flags = facts.flags;
    Object.assign(this, syscallFacts(facts.native));
  }
}

/** The kernel could not take the device now (EAGAIN, EBUSY): another reset or user holds it. */
export class DeviceBusyError extends VfioError implements SyscallFacts {
  readonly device: string;
  /** What was attempted, e.g. 'reset'. */
  readonly operation: string;
  /** The errno's name: 'EAGAIN' or 'EBUSY'. */
  readonly reason: string;
  readonly errno?: number;
  readonly syscall?: string;
  readonly ioctl?: string;
  constructor(facts: { device: string; operation: string; native: NativeError }) {
    super(
      'ERR_VFIO_DEVICE_BUSY',
      `${facts.operation} of ${facts.device}: the device is busy (${facts.native.code}): ` +
        'another reset, a sysfs operation on it, or another user of its bus holds it; try again later',
    );
    this.device = facts.device;
    this.operation = facts.operation;
    this.reason = facts.native.code;
    Object.assign(this, syscallFacts(facts.native));
  }
}

/** A hot reset touches devices of groups the caller did not pass: the kernel needs them all. */
export class HotResetGroupsError extends VfioError {
  readonly device: string;
  /** Every IOMMU group the reset touches. */
  readonly needed: readonly number[];
  /** The groups passed (open ones). */
  readonly held: readonly number[];
  /** needed minus held. */
  readonly missing: readonly number[];
  constructor(facts: { device: string; needed: number[]; held: number[] }) {
    const missing = facts.needed.filter((g) => !facts.held.includes(g));
    super(
      'ERR_VFIO_HOT_RESET_GROUPS',
      `a hot reset of ${facts.device} also resets devices of IOMMU groups ${list(facts.needed)}; ` +
        `the call holds ${list(facts.held)} and lacks ${list(missing)}: open those groups ` +
        '(every device in them bound to vfio-pci) and pass them to Device.hotReset',
    );
    this.device = facts.device;
    this.needed = Object.freeze([...facts.needed]);
    this.held = Object.freeze([...facts.held]);
    this.missing = Object.freeze(missing);
  }
}

/** What was asked of an interrupt index. */
export type InterruptAction = 'trigger' | 'mask' | 'unmask' | 'mask-eventfd' | 'unmask-eventfd';

/** An interrupt index the device lacks (0 vectors), or an action vfio-pci does not offer on it. */
export class InterruptNotSupportedError extends VfioError {
  readonly device: string;
  readonly index: number;
  /** 'INTX', 'MSI', 'MSIX', 'ERR', 'REQ'. */
  readonly indexName: string;
  readonly action: InterruptAction;
  /** Vectors of the index (VFIO_DEVICE_GET_IRQ_INFO count). */
  readonly count: number;
  /** VFIO_DEVICE_GET_IRQ_INFO flags. */
  readonly flags: number;
  constructor(facts: {
    device: string;
    index: number;
    indexName: string;
    action: InterruptAction;
    count: number;
    flags: number;
  }) {
    const what = `${facts.indexName} (IRQ index ${facts.index}) of ${facts.device}`;
    let why: string;
    if (facts.count === 0) {
      why = 'the device has no vector there: use an index Device.irqs() lists with vectors';
    } else if (facts.action === 'mask-eventfd') {
      why =
        'vfio-pci does not implement masking by eventfd (it answers ENOTTY): mask with ' +
        'Device.maskInterrupt() instead';
    } else {
      why =
        `it cannot be masked or unmasked (IRQ info flags ${hex(facts.flags)} lack ` +
        'VFIO_IRQ_INFO_MASKABLE; vfio-pci masks INTx only): mask at the device itself';
    }
    super('ERR_VFIO_IRQ_NOT_SUPPORTED', `${facts.action} of ${what}: ${why}`);
    this.device = facts.device;
    this.index = facts.index;
    this.indexName = facts.indexName;
    this.action = facts.action;
    this.count = facts.count;
    this.flags = facts.flags;
  }
}

/** vfio-pci drives one of INTx, MSI and MSI-X at a time: another one is enabled. */
export class InterruptsBusyError extends VfioError {
  readonly device: string;
  readonly requested: number;
  readonly requestedName: string;
  readonly active: number;
  readonly activeName: string;
  constructor(facts: {
    device: string;
    requested: number;
    requestedName: string;
    active: number;
    activeName: string;
  }) {
    super(
      'ERR_VFIO_IRQ_BUSY',
      `${facts.requestedName} of ${facts.device} cannot be enabled while ${facts.activeName} is: ` +
        'vfio-pci drives one of INTx, MSI and MSI-X at a time. Disable ' +
        `${facts.activeName} first (Device.disableInterrupts(${facts.active}))`,
    );
    this.device = facts.device;
    this.requested = facts.requested;
    this.requestedName = facts.requestedName;
    this.active = facts.active;
    this.activeName = facts.activeName;
  }
}

/** MSI and (without dynamic MSI-X) MSI-X keep the vector count they were enabled with. */
export class InterruptResizeError extends VfioError {
  readonly device: string;
  readonly index: number;
  readonly indexName: string;
  /** Vectors the kernel allocated when the index was enabled (start + count of that call). */
  readonly enabled: number;
  /** Vectors the new range needs (its start + count). */
  readonly requested: number;
  constructor(facts: {
    device: string;
    index: number;
    indexName: string;
    enabled: number;
    requested: number;
  }) {
    super(
      'ERR_VFIO_IRQ_NORESIZE',
      `${facts.indexName} of ${facts.device} was enabled with ${facts.enabled} vector(s) and ` +
        `cannot grow to ${facts.requested} while enabled (VFIO_IRQ_INFO_NORESIZE): disable the ` +
        'index, then enable it with a range that covers every vector it will use',
    );
    this.device = facts.device;
    this.index = facts.index;
    this.indexName = facts.indexName;
    this.enabled = facts.enabled;
    this.requested = facts.requested;
  }
}

/** Mask, unmask or a loopback trigger of an index or vector that has no trigger eventfd. */
export class InterruptNotEnabledError extends VfioError {
  readonly device: string;
  readonly index: number;
  readonly indexName: string;
  readonly action: string;
  /** The vectors asked for that have no trigger. */
  readonly vectors: readonly number[];
  constructor(facts: {
    device: string;
    index: number;
    indexName: string;
    action: string;
    vectors: number[];
  }) {
    super(
      'ERR_VFIO_IRQ_NOT_ENABLED',
      `${facts.action} of ${facts.indexName} of ${facts.device}: vector(s) ` +
        `${list(facts.vectors)} have no trigger eventfd; route them first ` +
        '(Device.setInterruptTriggers or Device.enableInterrupts)',
    );
    this.device = facts.device;
    this.index = facts.index;
    this.indexName = facts.indexName;
    this.action = facts.action;
    this.vectors = Object.freeze([...facts.vectors]);
  }
}

/** An access past the end of a region: refused before any syscall, nothing read or written. */
export class RegionBoundsError extends VfioError {
  readonly device: string;
  /** 'BAR0', 'ROM', 'CONFIG', ... */
  readonly region: string;
  readonly offset: bigint;
  readonly length: bigint;
  /** The region's size. */
  readonly size: bigint;
  constructor(facts: {
    device: string;
    region: string;
    offset: bigint;
    length: bigint;
    size: bigint;
  }) {
    super(
      'ERR_VFIO_REGION_BOUNDS',
      `${facts.length} byte(s) at offset ${hex(facts.offset)} of ${facts.region} of ` +
        `${facts.device} run past its end (${facts.size} bytes): nothing was accessed`,
    );
    this.device = facts.device;
    this.region = facts.region;
    this.offset = facts.offset;
    this.length = facts.length;
    this.size = facts.size;
  }
}

/** A register access of a width other than 8, 16, 32 or 64 bits, or not aligned to its width. */
export class RegisterWidthError extends VfioError {
  readonly device: string;
  readonly region: string;
  readonly offset: bigint;
  /** The width asked for, as given. */
  readonly width: unknown;
  constructor(facts: { device: string; region: string; offset: bigint; width: unknown }) {
    const valid =
      facts.width === 8 || facts.width === 16 || facts.width === 32 || facts.width === 64;
    // Any value may arrive here (it is what was refused): name it without converting it.
    const given = typeof facts.width === 'number' ? String(facts.width) : `a ${typeof facts.width}`;
    super(
      'ERR_VFIO_REGISTER_WIDTH',
      valid
        ? `a ${given}-bit access at offset ${hex(facts.offset)} of ${facts.region} of ` +
            `${facts.device} is not aligned to its width (the device would see smaller accesses): ` +
            'nothing was accessed'
        : `a register access of ${facts.region} of ${facts.device} is 8, 16, 32 or 64 bits wide, ` +
            `not ${given}: nothing was accessed; use readBytes/writeBytes for a byte range`,
    );
    this.device = facts.device;
    this.region = facts.region;
    this.offset = facts.offset;
    this.width = facts.width;
  }
}

/** A read, write or mmap that the region's flags do not allow (a read-only ROM, a BAR with no mmap). */
export class RegionAccessError extends VfioError {
  readonly device: string;
  readonly region: string;
  readonly index: number;
  readonly access: 'read' | 'write' | 'mmap';
  /** VFIO_DEVICE_GET_REGION_INFO flags. */
  readonly flags: number;
  constructor(facts: {
    device: string;
    region: string;
    index: number;
    access: 'read' | 'write' | 'mmap';
    flags: number;
  }) {
    const flag = { read: 'READ', write: 'WRITE', mmap: 'MMAP' }[facts.access];
    const remedy =
      facts.access === 'mmap'
        ? 'read and write it through the device fd (Device.regionIo)'
        : 'nothing was accessed';
    super(
      'ERR_VFIO_REGION_ACCESS',
      `${facts.region} (region ${facts.index}) of ${facts.device} does not allow ${facts.access} ` +
        `(region flags ${hex(facts.flags)} lack VFIO_REGION_INFO_FLAG_${flag}): ${remedy}`,
    );
    this.device = facts.device;
    this.region = facts.region;
    this.index = facts.index;
    this.access = facts.access;
    this.flags = facts.flags;
  }
}

/** An MMIO access to a part of a region that is not mmap'd (the kernel's sparse-mmap areas). */
export class UnmappedAreaError extends VfioError {
  readonly device: string;
  readonly region: string;
  readonly offset: bigint;
  readonly width: number;
  /** The parts that are mmap'd. */
  readonly areas: readonly { offset: bigint; size: bigint }[];
  constructor(facts: {
    device: string;
    region: string;
    offset: bigint;
    width: number;
    areas: { offset: bigint; size: bigint }[];
  }) {
    const areas = facts.areas.map((a) => `${hex(a.offset)}+${hex(a.size)}`).join(', ');
    super(
      'ERR_VFIO_REGION_NOT_MAPPED',
      `offset ${hex(facts.offset)} of ${facts.region} of ${facts.device} is outside its mmap'd ` +
        `areas (${areas || 'none'}): the kernel traps that part; access it through the device ` +
        'fd (Device.regionIo)',
    );
    this.device = facts.device;
    this.region = facts.region;
    this.offset = facts.offset;
    this.width = facts.width;
    this.areas = Object.freeze(facts.areas.map((a) => Object.freeze({ ...a })));
  }
}

/** pread/pwrite of a region moved fewer bytes than asked (the kernel stopped at the region end). */
export class ShortTransferError extends VfioError {
  readonly device: string;
  readonly region: string;
  readonly direction: 'read' | 'write';
  readonly offset: bigint;
  readonly requested: number;
  readonly transferred: number;
  constructor(facts: {
    device: string;
    region: string;
    direction: 'read' | 'write';
    offset: bigint;
    requested: number;
    transferred: number;
  }) {
    super(
      'ERR_VFIO_SHORT_TRANSFER',
      `${facts.direction} of ${facts.requested} byte(s) at offset ${hex(facts.offset)} of ` +
        `${facts.region} of ${facts.device} moved ${facts.transferred}: the kernel's region is ` +
        'smaller than its info said; read the region info again',
    );
    this.device = facts.device;
    this.region = facts.region;
    this.direction = facts.direction;
    this.offset = facts.offset;
    this.requested = facts.requested;
    this.transferred = facts.transferred;
  }
}
