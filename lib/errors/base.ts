// The base of every library error, the argument and lifecycle errors every layer shares, and
// the mapping from a native failure (errno) to the library's classes. Each class has a stable
// `code`; errors born of a failed syscall also carry `errno`, `syscall` and the ioctl name, as
// Node's own SystemError does.
import type { NativeError } from '../binding';

/**
 * Base of every library error: `code` is stable and safe to switch on. Each subclass takes one
 * object of facts, keeps each as a readonly field a caller can read (bigint for addresses and
 * sizes), and builds its message from them in one place.
 */
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

/** No /dev/vfio/vfio, or the kernel lacks the SPAPR TCE IOMMU driver or speaks another API. */
export class VfioUnavailableError extends VfioError {
  constructor(facts: { problem: string }) {
    super('ERR_VFIO_UNAVAILABLE', facts.problem);
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

/**
 * An operation its AbortSignal stopped, shaped as Node's own (name 'AbortError', code
 * 'ABORT_ERR', the signal's reason as `cause`); what it had done is undone.
 */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR';
  constructor(operation: string, reason: unknown) {
    super(`${operation} was aborted; nothing of it is left`, { cause: reason });
    this.name = 'AbortError';
  }
}

/** The object was closed (container, group, device, buffer, window). */
export class ClosedError extends VfioError {
  /** What was closed: 'VFIO container', 'device 0000:01:00.0', 'DMA buffer', ... */
  readonly what: string;
  constructor(facts: { what: string }) {
    super('ERR_VFIO_CLOSED', `${facts.what} is closed`);
    this.what = facts.what;
  }
}

/** The object was created by another process: the container is bound to the mm that opened it. */
export class ForkedProcessError extends VfioError {
  readonly what: string;
  /** The process that opened the object, and the one that used it. */
  readonly ownerPid: number;
  readonly pid: number;
  constructor(facts: { what: string; ownerPid: number; pid: number }) {
    super(
      'ERR_VFIO_FORKED',
      `${facts.what} belongs to process ${facts.ownerPid}, not to this process (${facts.pid}): the ` +
        'kernel binds a container to the memory of the process that first used it; open a new ' +
        'container in the child',
    );
    this.what = facts.what;
    this.ownerPid = facts.ownerPid;
    this.pid = facts.pid;
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
