// The errors of registered memory and DMA mappings: each carries the ranges it is about as
// fields (bigint addresses, IOVAs and sizes), and builds its message from them here.
import { VfioError } from './base';

/** A range of addresses or IOVAs: [start, start + size). */
export interface AddressRange {
  readonly start: bigint;
  readonly size: bigint;
}

/** `[0x..., 0x...)`, the form every message gives a range in. */
export function formatRange(start: bigint, size: bigint): string {
  return `[0x${start.toString(16)}, 0x${(start + size).toString(16)})`;
}

function hex(value: bigint): string {
  return `0x${value.toString(16)}`;
}

/**
 * A registration that repeats or overlaps a registered region. `conflict` is the region it
 * clashes with, where known; `scope` says whose books saw it: this container's, or the
 * process's (the kernel keeps one list per process and shares only identical ranges).
 */
export class RegionOverlapError extends VfioError {
  readonly address: bigint;
  readonly size: bigint;
  readonly conflict: AddressRange | null;
  readonly scope: 'container' | 'process';
  constructor(facts: {
    address: bigint;
    size: bigint;
    conflict: AddressRange | null;
    scope: 'container' | 'process';
  }) {
    const { address, size, conflict, scope } = facts;
    const range = formatRange(address, size);
    let message: string;
    if (scope === 'process') {
      message =
        `${range} overlaps memory that another container of this process registered with a ` +
        `different address or size${conflict ? ` (${formatRange(conflict.start, conflict.size)})` : ''}: ` +
        'the kernel keeps one list of registrations per process and shares only identical ' +
        'ranges (it says EINVAL); register exactly the same range in both containers, or ' +
        'memory that does not overlap';
    } else if (conflict && conflict.start === address && conflict.size === size) {
      message = `${range} is already registered`;
    } else {
      message = `${range} overlaps the registered region ${conflict ? formatRange(conflict.start, conflict.size) : ''}`;
    }
    super('ERR_VFIO_REGION_OVERLAP', message);
    this.address = address;
    this.size = size;
    this.conflict = conflict;
    this.scope = scope;
  }
}

/**
 * No registered region is exactly [address, address+size) (the kernel says ENOENT), or a
 * Region handle that is no longer registered in this container (unregistered, or released
 * with the container's IOMMU). `registered` is the region at that address, if any.
 */
export class RegionNotFoundError extends VfioError {
  readonly address: bigint;
  readonly size: bigint;
  readonly registered: AddressRange | null;
  readonly staleHandle: boolean;
  constructor(facts: {
    address: bigint;
    size: bigint;
    registered?: AddressRange | null;
    staleHandle?: boolean;
  }) {
    const { address, size } = facts;
    const registered = facts.registered ?? null;
    const staleHandle = facts.staleHandle ?? false;
    const range = formatRange(address, size);
    super(
      'ERR_VFIO_REGION_NOT_FOUND',
      staleHandle
        ? `the region ${range} is not registered in this container (unregistered, or released ` +
            'with the container): register the memory again'
        : `${range} is not a registered region: unregister must name exactly the address and ` +
            'size that were registered' +
            (registered ? ` (${formatRange(registered.start, registered.size)})` : ''),
    );
    this.address = address;
    this.size = size;
    this.registered = registered;
    this.staleHandle = staleHandle;
  }
}

/** Unregister while pages of the region are mapped: the kernel says 0 and leaks the pin. */
export class RegionInUseError extends VfioError {
  readonly address: bigint;
  readonly size: bigint;
  /** Live mappings (or guest TCEs) that point into the region. */
  readonly users: number;
  constructor(facts: { address: bigint; size: bigint; users: number; what?: string }) {
    const { address, size, users } = facts;
    super(
      'ERR_VFIO_REGION_IN_USE',
      `region ${formatRange(address, size)} still has ${users} live ${facts.what ?? 'mapping(s)'}: ` +
        'unmap them first (the kernel would accept the unregister and leave the pages pinned ' +
        'until exit)',
    );
    this.address = address;
    this.size = size;
    this.users = users;
  }
}

/** Free of a DmaBuffer that is still registered or mapped. */
export class BufferInUseError extends VfioError {
  readonly address: bigint;
  readonly holders: number;
  constructor(facts: { address: bigint; holders: number }) {
    super(
      'ERR_VFIO_BUFFER_IN_USE',
      `DMA buffer at ${hex(facts.address)} is still registered or mapped ` +
        `(${facts.holders} holder(s)): unmap and unregister it before freeing`,
    );
    this.address = facts.address;
    this.holders = facts.holders;
  }
}

/**
 * Map of memory that is not (wholly) registered: the kernel says EPERM while the container has
 * no registration at all, and EINVAL once it has one. `missing` is the first address that is
 * not; `registering` is set when it belongs to a registration still in flight.
 */
export class NotRegisteredError extends VfioError {
  readonly address: bigint;
  readonly size: bigint;
  readonly missing: bigint;
  readonly registering: boolean;
  constructor(facts: { address: bigint; size: bigint; missing: bigint; registering?: boolean }) {
    const { address, size, missing } = facts;
    const registering = facts.registering ?? false;
    super(
      'ERR_VFIO_NOT_REGISTERED',
      registering
        ? `region ${hex(missing)} is still being registered: await registerAsync first`
        : `memory at ${hex(missing)} (in ${formatRange(address, size)}) is not registered: ` +
            'register it before mapping (the kernel would say EPERM, or EINVAL once the ' +
            'container has a registration)',
    );
    this.address = address;
    this.size = size;
    this.missing = missing;
    this.registering = registering;
  }
}

/** Map over a live mapping: the kernel would silently replace the translation. */
export class MappingOverlapError extends VfioError {
  readonly iova: bigint;
  readonly size: bigint;
  readonly conflict: AddressRange;
  constructor(facts: { iova: bigint; size: bigint; conflict: AddressRange }) {
    const { iova, size, conflict } = facts;
    super(
      'ERR_VFIO_MAPPING_OVERLAP',
      `IOVA range ${formatRange(iova, size)} overlaps the live mapping ` +
        `${formatRange(conflict.start, conflict.size)}: unmap it first (the kernel would ` +
        'silently replace the translation)',
    );
    this.iova = iova;
    this.size = size;
    this.conflict = conflict;
  }
}

/**
 * No live mapping is exactly [iova, iova+size), or a Mapping handle that is no longer live
 * (unmapped, or released with the container's IOMMU). `live` is the mapping at that IOVA, if any.
 */
export class MappingNotFoundError extends VfioError {
  readonly iova: bigint;
  readonly size: bigint;
  readonly live: AddressRange | null;
  readonly staleHandle: boolean;
  constructor(facts: {
    iova: bigint;
    size: bigint;
    live?: AddressRange | null;
    staleHandle?: boolean;
  }) {
    const { iova, size } = facts;
    const live = facts.live ?? null;
    const staleHandle = facts.staleHandle ?? false;
    super(
      'ERR_VFIO_MAPPING_NOT_FOUND',
      `${formatRange(iova, size)} is not a live mapping` +
        (staleHandle ? ' of this container (unmapped, or released with the container)' : '') +
        (live ? ` (the mapping at ${hex(iova)} is ${hex(live.size)} bytes)` : ''),
    );
    this.iova = iova;
    this.size = size;
    this.live = live;
    this.staleHandle = staleHandle;
  }
}

/**
 * An address, IOVA or size not aligned to the page it must be aligned to (or a zero length).
 * `subject` names what: a registration (system pages), a mapping's IOVA range or its memory
 * (the window's IOMMU page).
 */
export class AlignmentError extends VfioError {
  readonly subject: 'registration' | 'mapping' | 'mapping source' | 'guest TCE';
  readonly start: bigint;
  readonly size: bigint;
  readonly alignment: bigint;
  constructor(facts: {
    subject: 'registration' | 'mapping' | 'mapping source' | 'guest TCE';
    start: bigint;
    size: bigint;
    alignment: bigint;
  }) {
    const { subject, start, size, alignment } = facts;
    const page = subject === 'registration' ? 'system page' : 'IOMMU page';
    let message: string;
    if (size === 0n) {
      message = `a ${subject} must be at least one ${page} long`;
    } else if (subject === 'registration') {
      message = `registration ${formatRange(start, size)} is not aligned to the ${alignment}-byte system page`;
    } else if (subject === 'mapping source') {
      message = `mapping from ${hex(start)} is not aligned to the window's ${alignment}-byte IOMMU page`;
    } else {
      message = `${subject} of ${hex(size)} bytes at IOVA ${hex(start)} is not aligned to the window's ${alignment}-byte IOMMU page`;
    }
    super('ERR_VFIO_MISALIGNED', message);
    this.subject = subject;
    this.start = start;
    this.size = size;
    this.alignment = alignment;
  }
}

/** A window as errors describe it. */
export interface WindowFacts extends AddressRange {
  readonly pageSize: bigint;
}

/**
 * An IOVA range not wholly inside one DMA window: in none (`window` null), or running past the
 * end of the window it starts in (the kernel checks only the first page).
 */
export class OutsideWindowError extends VfioError {
  readonly iova: bigint;
  readonly size: bigint;
  readonly window: WindowFacts | null;
  readonly windows: readonly WindowFacts[];
  constructor(facts: {
    iova: bigint;
    size: bigint;
    window: WindowFacts | null;
    windows: readonly WindowFacts[];
  }) {
    const { iova, size, window, windows } = facts;
    const list =
      windows.length === 0
        ? 'none'
        : windows
            .map((w) => `${formatRange(w.start, w.size)} of ${w.pageSize}-byte pages`)
            .join(', ');
    super(
      'ERR_VFIO_OUTSIDE_WINDOW',
      window === null
        ? `IOVA ${hex(iova)} is in no DMA window (windows: ${list})`
        : `IOVA range ${formatRange(iova, size)} runs past the end of its window ` +
            formatRange(window.start, window.size),
    );
    this.iova = iova;
    this.size = size;
    this.window = window;
    this.windows = windows;
  }
}
