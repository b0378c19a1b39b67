// The errors of the container's IOMMU: types, windows, registrations, mappings, locked memory.
import { VfioError } from './base';

/** A v2-only call on a v1 container, a v1-only call on v2, or any call before the IOMMU type is set. */
export class IommuTypeError extends VfioError {
  constructor(message: string) {
    super('ERR_VFIO_IOMMU_TYPE', message);
  }
}

/** A v1 container must be enabled (VFIO_IOMMU_ENABLE) before it maps. */
export class NotEnabledError extends VfioError {
  constructor(message: string) {
    super('ERR_VFIO_NOT_ENABLED', message);
  }
}

/** An operation is still in flight (an async registration) and must finish first. */
export class OperationPendingError extends VfioError {
  constructor(message: string) {
    super('ERR_VFIO_OPERATION_PENDING', message);
  }
}

/** A registration that repeats or overlaps a registered region (the kernel says EBUSY/EINVAL). */
export class RegionOverlapError extends VfioError {
  constructor(message: string) {
    super('ERR_VFIO_REGION_OVERLAP', message);
  }
}

/** Unregister with a range that is not exactly a registered region (the kernel says ENOENT). */
export class RegionNotFoundError extends VfioError {
  constructor(message: string) {
    super('ERR_VFIO_REGION_NOT_FOUND', message);
  }
}

/** Unregister while pages of the region are mapped: the kernel says 0 and leaks the pin. */
export class RegionInUseError extends VfioError {
  constructor(message: string) {
    super('ERR_VFIO_REGION_IN_USE', message);
  }
}

/** Free of a DmaBuffer that is still registered or mapped. */
export class BufferInUseError extends VfioError {
  constructor(message: string) {
    super('ERR_VFIO_BUFFER_IN_USE', message);
  }
}

/** Map of memory that is not (wholly) registered (the kernel says EPERM). */
export class NotRegisteredError extends VfioError {
  constructor(message: string) {
    super('ERR_VFIO_NOT_REGISTERED', message);
  }
}

/** Map over a live mapping: the kernel would silently replace the translation. */
export class MappingOverlapError extends VfioError {
  constructor(message: string) {
    super('ERR_VFIO_MAPPING_OVERLAP', message);
  }
}

/** Unmap of a range that is not exactly a live mapping. */
export class MappingNotFoundError extends VfioError {
  constructor(message: string) {
    super('ERR_VFIO_MAPPING_NOT_FOUND', message);
  }
}

/** An address, IOVA or size not aligned to the page it must be aligned to. */
export class AlignmentError extends VfioError {
  constructor(message: string) {
    super('ERR_VFIO_MISALIGNED', message);
  }
}

/** A range not wholly inside one DMA window (the kernel checks only the first page). */
export class OutsideWindowError extends VfioError {
  constructor(message: string) {
    super('ERR_VFIO_OUTSIDE_WINDOW', message);
  }
}

/** The IOMMU page is larger than the page backing the memory, or a page size the host lacks. */
export class PageSizeError extends VfioError {
  constructor(message: string) {
    super('ERR_VFIO_PAGE_SIZE', message);
  }
}

/**
 * Huge-page-backed memory on a 4K-page kernel: registering it never returns (the pin loops
 * in hugetlb_fault; seen on 6.12 ppc64el), so the library refuses it.
 */
export class HugetlbRegistrationError extends VfioError {
  constructor(message: string) {
    super('ERR_VFIO_HUGETLB_4K_KERNEL', message);
  }
}

/** The host has no dynamic DMA windows (pre-IODA2: no DDW flag in the info). */
export class NoDynamicWindowsError extends VfioError {
  constructor(message: string) {
    super('ERR_VFIO_NO_DDW', message);
  }
}

/** As many windows exist as the host allows (the kernel says ENOSPC). */
export class WindowLimitError extends VfioError {
  constructor(message: string) {
    super('ERR_VFIO_WINDOW_LIMIT', message);
  }
}

/**
 * A window whose TCE table the kernel cannot allocate: each level is one contiguous block,
 * and the page allocator has none that large. The kernel charges the table to locked_vm
 * before allocating it and does not give the charge back when the allocation fails: it
 * stays until the process exits. `strandedBytes` is that charge (0 when the library refused
 * before asking the kernel).
 */
export class TceTableAllocationError extends VfioError {
  readonly strandedBytes: bigint;
  constructor(message: string, strandedBytes = 0n) {
    super('ERR_VFIO_TCE_TABLE_ALLOCATION', message);
    this.strandedBytes = strandedBytes;
  }
}

/** Removing a window that still has live mappings. */
export class WindowInUseError extends VfioError {
  constructor(message: string) {
    super('ERR_VFIO_WINDOW_IN_USE', message);
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
  readonly needed: bigint;
  readonly locked: bigint;
  readonly limit: bigint;
  readonly ulimitKiB: bigint;
  constructor(operation: string, shortfall: MemlockShortfall) {
    super(
      'ERR_VFIO_MEMLOCK_LIMIT',
      `${operation} needs ${shortfall.needed} bytes of locked memory; ${shortfall.locked} are ` +
        `locked and RLIMIT_MEMLOCK is ${shortfall.limit}. Raise it with \`ulimit -l ` +
        `${shortfall.ulimitKiB}\` (or more), or grant CAP_IPC_LOCK`,
    );
    this.needed = shortfall.needed;
    this.locked = shortfall.locked;
    this.limit = shortfall.limit;
    this.ulimitKiB = shortfall.ulimitKiB;
  }
}
