// Every error the library throws, and the mapping from a native failure (errno) to them.
// Each class has a stable `code`; errors born of a failed syscall also carry `errno`,
// `syscall` and the ioctl name, as Node's own SystemError does.
import type { NativeError } from './binding';

/** Base of every library error: `code` is stable and safe to switch on. */
export class VfioError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A syscall or ioctl failed and no more specific class applies. `code` is the errno name. */
export class VfioSystemError extends VfioError {
  readonly errno?: number;
  readonly syscall?: string;
  readonly ioctl?: string;
  /** Set when the kernel returned a positive value where success is 0. */
  readonly returnValue?: number;
  constructor(native: NativeError, attempted: string, remedy?: string) {
    super(native.code, `${attempted}: ${native.message}${remedy ? `. ${remedy}` : ''}`);
    this.errno = native.errno;
    this.syscall = native.syscall;
    this.ioctl = native.ioctl;
    this.returnValue = native.returnValue;
  }
}

/** No /dev/vfio/vfio, or the kernel lacks the SPAPR TCE IOMMU driver. */
export class VfioUnavailableError extends VfioError {
  constructor(message: string) {
    super('ERR_VFIO_UNAVAILABLE', message);
  }
}

/** A value of the wrong type was passed. */
export class InvalidArgumentError extends TypeError {
  readonly code = 'ERR_INVALID_ARG_TYPE';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidArgumentError';
  }
}

/** A value of the right type but outside what is allowed. */
export class ArgumentRangeError extends RangeError {
  readonly code = 'ERR_OUT_OF_RANGE';
  constructor(message: string) {
    super(message);
    this.name = 'ArgumentRangeError';
  }
}

/** The object was closed (container, group, device, buffer, window). */
export class ClosedError extends VfioError {
  constructor(what: string) {
    super('ERR_VFIO_CLOSED', `${what} is closed`);
  }
}

/** The object was created by another process: the container is bound to the mm that opened it. */
export class ForkedProcessError extends VfioError {
  constructor(what: string, ownerPid: number, pid: number) {
    super(
      'ERR_VFIO_FORKED',
      `${what} belongs to process ${ownerPid}, not to this process (${pid}): the kernel binds a ` +
        'container to the memory of the process that first used it; open a new container in the child',
    );
  }
}

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

/** The host allows one IOMMU group per container and a second one was attached. */
export class GroupLimitError extends VfioError {
  constructor(message: string) {
    super('ERR_VFIO_ONE_GROUP_PER_CONTAINER', message);
  }
}

/** The group is not viable: some device in it is still bound to a host driver. */
export class GroupNotViableError extends VfioError {
  constructor(message: string) {
    super('ERR_VFIO_GROUP_NOT_VIABLE', message);
  }
}

/** A PCI address that is not a well-formed domain:bus:device.function. */
export class InvalidBdfError extends VfioError {
  constructor(bdf: string) {
    super(
      'ERR_VFIO_INVALID_BDF',
      `${JSON.stringify(bdf)} is not a PCI address of the form DDDD:BB:DD.F (e.g. 0000:01:00.0)`,
    );
  }
}

/** A sysfs driver operation did not have the effect asked for. */
export class DriverBindError extends VfioError {
  constructor(message: string) {
    super('ERR_VFIO_DRIVER_BIND', message);
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

function isNativeError(error: unknown): error is NativeError {
  return error instanceof Error && typeof (error as NativeError).code === 'string';
}

/**
 * Runs a native call and turns its failure into a library error. Argument errors the native
 * layer raised (TypeError/RangeError) pass through with their codes; errno failures become
 * the class `classify` picks, or a VfioSystemError.
 */
export function callNative<T>(
  /** What was attempted, for the message; a function when building it costs (hot paths). */
  attempted: string | (() => string),
  call: () => T,
  classify?: (native: NativeError) => Error | undefined,
): T {
  try {
    return call();
  } catch (error) {
    const what = typeof attempted === 'string' ? attempted : attempted();
    throw translateNativeError(error, what, classify);
  }
}

/** The async form of callNative, for calls that run on the libuv pool. */
export async function callNativeAsync<T>(
  attempted: string,
  call: () => Promise<T>,
  classify?: (native: NativeError) => Error | undefined,
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw translateNativeError(error, attempted, classify);
  }
}

function translateNativeError(
  error: unknown,
  attempted: string,
  classify?: (native: NativeError) => Error | undefined,
): unknown {
  if (!isNativeError(error) || error instanceof TypeError || error instanceof RangeError) {
    return error;
  }
  return classify?.(error) ?? new VfioSystemError(error, attempted, remedyFor(error));
}

/** A hint for the errnos whose cause is usually the same. */
function remedyFor(error: NativeError): string | undefined {
  switch (error.code) {
    case 'EACCES':
      return 'The /dev/vfio nodes need read-write permission for this user';
    case 'ENOMEM':
      return 'The kernel could not lock the memory: check RLIMIT_MEMLOCK (ulimit -l) or CAP_IPC_LOCK';
    case 'EBUSY':
      return 'Already in use: a group opens once (another process, or an unclosed Group, Device or BAR mapping in this one)';
    case 'ENOTTY':
      return 'The kernel does not know this ioctl for the container: wrong IOMMU type?';
    default:
      return undefined;
  }
}
