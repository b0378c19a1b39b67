// The errors of the container's IOMMU: its type, v1's enable switch, operations in flight,
// windows and their TCE tables, page sizes, locked memory. Each carries its facts as fields.
import { VfioError } from './base';
import { formatRange } from './dma';

type IommuTypeFacts =
  /** Nothing chosen yet; `releasedByGroup`: the kernel released the IOMMU when that group left. */
  | { reason: 'unset'; releasedByGroup?: number | null }
  | { reason: 'already-set'; current: 'v1' | 'v2' }
  | { reason: 'no-group' }
  | { reason: 'wrong-type'; operation: string; required: 'v1' | 'v2'; current: 'v1' | 'v2' };

/** A v2-only call on a v1 container, a v1-only call on v2, or any call before the IOMMU type is set. */
export class IommuTypeError extends VfioError {
  readonly reason: IommuTypeFacts['reason'];
  /** The type the container has (null when none is set). */
  readonly current: 'v1' | 'v2' | null;
  /** The type the operation needs (null when any will do). */
  readonly required: 'v1' | 'v2' | null;
  constructor(facts: IommuTypeFacts) {
    let message: string;
    switch (facts.reason) {
      case 'unset':
        message =
          'choose the IOMMU type first: addGroup(), then setIommu()' +
          (facts.releasedByGroup == null
            ? ''
            : ` (the container lost its last group, ${facts.releasedByGroup}, and the kernel ` +
              'released its IOMMU: every registration, mapping and window is gone)');
        break;
      case 'already-set':
        message = `the IOMMU type is already ${facts.current}`;
        break;
      case 'no-group':
        message = 'attach a group (addGroup) before choosing the IOMMU type';
        break;
      case 'wrong-type':
        message =
          `${facts.operation} needs a ${facts.required} container; this one is ${facts.current}` +
          (facts.required === 'v2'
            ? ' (v1 pins memory at map time and has no registration or windows)'
            : '');
        break;
    }
    super('ERR_VFIO_IOMMU_TYPE', message);
    this.reason = facts.reason;
    this.current = 'current' in facts ? facts.current : null;
    this.required = 'required' in facts ? facts.required : null;
  }
}

/** A v1 container must be enabled (VFIO_IOMMU_ENABLE) before it maps. */
export class NotEnabledError extends VfioError {
  constructor() {
    super(
      'ERR_VFIO_NOT_ENABLED',
      'enable() the v1 container before mapping (the kernel says EPERM)',
    );
  }
}

/** An operation is still in flight (an async registration) and must finish first. */
export class OperationPendingError extends VfioError {
  /** What was refused: 'close()', 'unregister()', 'closing group 3, the container's last group'. */
  readonly operation: string;
  /** Async registrations in flight. */
  readonly pending: number;
  constructor(facts: { operation: string; pending: number }) {
    super(
      'ERR_VFIO_OPERATION_PENDING',
      `${facts.pending} async registration(s) in flight: await them before ${facts.operation}`,
    );
    this.operation = facts.operation;
    this.pending = facts.pending;
  }
}

type PageSizeFacts =
  /** A window page size the host does not offer. */
  | { reason: 'not-offered'; pageSize: bigint; offered: readonly bigint[] }
  /** Memory backed by pages smaller than the window's IOMMU page. */
  | { reason: 'backing'; pageSize: bigint; backingPageSize: bigint; address: bigint; size: bigint };

/** The IOMMU page is larger than the page backing the memory, or a page size the host lacks. */
export class PageSizeError extends VfioError {
  readonly reason: PageSizeFacts['reason'];
  /** The IOMMU page size asked for. */
  readonly pageSize: bigint;
  /** The page sizes the host offers ('not-offered'), else empty. */
  readonly offered: readonly bigint[];
  /** The page size backing the memory ('backing'), else null. */
  readonly backingPageSize: bigint | null;
  constructor(facts: PageSizeFacts) {
    super(
      'ERR_VFIO_PAGE_SIZE',
      facts.reason === 'not-offered'
        ? `IOMMU page size ${facts.pageSize} is not offered; this host offers ${facts.offered.join(', ')}`
        : `region ${formatRange(facts.address, facts.size)} is backed by ${facts.backingPageSize}-byte ` +
            `pages, smaller than the window's ${facts.pageSize}-byte IOMMU page; back it with pages ` +
            'of at least that size (hugetlbfs, or the 64K-page kernel) or map it in a window of ' +
            'smaller pages',
    );
    this.reason = facts.reason;
    this.pageSize = facts.pageSize;
    this.offered = facts.reason === 'not-offered' ? facts.offered : [];
    this.backingPageSize = facts.reason === 'backing' ? facts.backingPageSize : null;
  }
}

/**
 * Huge-page-backed memory on a 4K-page kernel: registering it never returns (the pin loops
 * in hugetlb_fault; seen on 6.12 ppc64el), so the library refuses it.
 */
export class HugetlbRegistrationError extends VfioError {
  readonly backingPageSize: bigint;
  readonly systemPageSize: bigint;
  constructor(facts: { backingPageSize: bigint; systemPageSize: bigint }) {
    super(
      'ERR_VFIO_HUGETLB_4K_KERNEL',
      `registering memory backed by ${facts.backingPageSize}-byte huge pages on a ` +
        `${facts.systemPageSize}-byte-page kernel would hang the caller in the kernel (the pin ` +
        'retries hugetlb_fault forever on 4K-page ppc64 kernels): use the 64K-page kernel for ' +
        'huge pages, or ordinary memory',
    );
    this.backingPageSize = facts.backingPageSize;
    this.systemPageSize = facts.systemPageSize;
  }
}

/** The host has no dynamic DMA windows (pre-IODA2: no DDW flag in the info). */
export class NoDynamicWindowsError extends VfioError {
  constructor() {
    super(
      'ERR_VFIO_NO_DDW',
      'this host has no dynamic DMA windows (no DDW flag in the SPAPR TCE info: a pre-IODA2 ' +
        'PHB); map within the default 32-bit window',
    );
  }
}

/** As many windows exist as the host allows (the kernel says ENOSPC). */
export class WindowLimitError extends VfioError {
  readonly maxWindows: number;
  readonly existing: number;
  constructor(facts: { maxWindows: number; existing: number }) {
    super(
      'ERR_VFIO_WINDOW_LIMIT',
      `the host allows ${facts.maxWindows} DMA windows and ${facts.existing} exist: remove one ` +
        'first (the kernel would say ENOSPC)',
    );
    this.maxWindows = facts.maxWindows;
    this.existing = facts.existing;
  }
}

/**
 * A window whose TCE table the kernel cannot allocate: each level is one contiguous block,
 * and the page allocator has none that large. The kernel charges the whole table to locked_vm
 * before allocating it and does not give the charge back when the allocation fails: it stays
 * until the process exits. `strandedBytes` is that charge (0 when the library refused before
 * asking the kernel; then `levelBytes`, `largestBlock` and `levelsThatFit` say why).
 */
export class TceTableAllocationError extends VfioError {
  readonly windowSize: bigint;
  readonly pageSize: bigint;
  readonly levels: number;
  readonly strandedBytes: bigint;
  /** Bytes of one table level, and the largest block the page allocator gives (refusals). */
  readonly levelBytes: bigint | null;
  readonly largestBlock: bigint | null;
  /** The fewest levels whose blocks fit, or null when none up to the host's maximum does. */
  readonly levelsThatFit: number | null;
  constructor(
    facts: { windowSize: bigint; pageSize: bigint; levels: number } & (
      | { strandedBytes: bigint }
      | {
          tableBytes: bigint;
          levelBytes: bigint;
          largestBlock: bigint;
          levelsThatFit: number | null;
          maxLevels: number;
        }
    ),
  ) {
    const window = `a 0x${facts.windowSize.toString(16)}-byte window of ${facts.pageSize}-byte pages`;
    const refusedBefore = 'levelBytes' in facts;
    super(
      'ERR_VFIO_TCE_TABLE_ALLOCATION',
      refusedBefore
        ? `${window} in ${facts.levels} level(s) needs ${facts.levelBytes}-byte TCE table levels, ` +
            `and the kernel allocates at most ${facts.largestBlock} bytes in one block: it would ` +
            `fail with ENOMEM and leave ${facts.tableBytes} bytes charged to locked memory until ` +
            'the process exits; ' +
            (facts.levelsThatFit !== null
              ? `use levels: ${facts.levelsThatFit} or more`
              : `no level count up to ${facts.maxLevels} fits: use a smaller window or larger IOMMU pages`)
        : `creating ${window}: the kernel could not allocate its TCE table (ENOMEM) and left ` +
            `${facts.strandedBytes} bytes charged to locked memory until this process exits (a ` +
            'kernel bug); try more levels, or again when memory is less fragmented',
    );
    this.windowSize = facts.windowSize;
    this.pageSize = facts.pageSize;
    this.levels = facts.levels;
    this.strandedBytes = refusedBefore ? 0n : facts.strandedBytes;
    this.levelBytes = refusedBefore ? facts.levelBytes : null;
    this.largestBlock = refusedBefore ? facts.largestBlock : null;
    this.levelsThatFit = refusedBefore ? facts.levelsThatFit : null;
  }
}

/** Removing a window that still has live mappings. */
export class WindowInUseError extends VfioError {
  readonly start: bigint;
  readonly size: bigint;
  readonly mappingCount: number;
  constructor(facts: { start: bigint; size: bigint; mappingCount: number; what?: string }) {
    super(
      'ERR_VFIO_WINDOW_IN_USE',
      `window ${formatRange(facts.start, facts.size)} still has ${facts.mappingCount} live ` +
        `${facts.what ?? 'mapping(s)'}: unmap them first`,
    );
    this.start = facts.start;
    this.size = facts.size;
    this.mappingCount = facts.mappingCount;
  }
}

/** A Window handle that is not a live window of this container (removed, or another's). */
export class WindowNotFoundError extends VfioError {
  readonly start: bigint;
  readonly size: bigint;
  constructor(facts: { start: bigint; size: bigint }) {
    super(
      'ERR_VFIO_WINDOW_NOT_FOUND',
      `the window ${formatRange(facts.start, facts.size)} is not a live window of this ` +
        "container (removed, released with the container, or another container's)",
    );
    this.start = facts.start;
    this.size = facts.size;
  }
}

export interface MemlockShortfall {
  /** What the operation will lock, in bytes. */
  needed: bigint;
  /** What the process has locked now (VmLck), in bytes. */
  locked: bigint;
  /** RLIMIT_MEMLOCK soft limit in bytes. */
  limit: bigint;
  /** The smallest `ulimit -l` value (KiB) that would let the operation succeed. */
  ulimitKiB: bigint;
}

/** The operation would push locked memory past RLIMIT_MEMLOCK and the process lacks CAP_IPC_LOCK. */
export class MemlockLimitError extends VfioError implements MemlockShortfall {
  /** What needed the memory, e.g. 'registering 0x200000 bytes at 0x7fff0000'. */
  readonly operation: string;
  readonly needed: bigint;
  readonly locked: bigint;
  readonly limit: bigint;
  readonly ulimitKiB: bigint;
  constructor(facts: MemlockShortfall & { operation: string }) {
    super(
      'ERR_VFIO_MEMLOCK_LIMIT',
      `${facts.operation} needs ${facts.needed} bytes of locked memory; ${facts.locked} are ` +
        `locked and RLIMIT_MEMLOCK is ${facts.limit}. Raise it with \`ulimit -l ` +
        `${facts.ulimitKiB}\` (or more), or grant CAP_IPC_LOCK`,
    );
    this.operation = facts.operation;
    this.needed = facts.needed;
    this.locked = facts.locked;
    this.limit = facts.limit;
    this.ulimitKiB = facts.ulimitKiB;
  }
}
