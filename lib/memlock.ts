// Locked memory (RLIMIT_MEMLOCK): what each operation will charge to the process's
// locked_vm, and whether it fits, decided before the kernel would say a bare ENOMEM.
import type { NativeBinding } from './binding';
import { ArgumentRangeError, InvalidArgumentError, MemlockLimitError } from './errors';
import { DEFAULT_WINDOW, MAX_TABLE_LEVELS } from './kernel-constants';
import { isPowerOfTwo, log2, toIndex, toSize, U64_MAX } from './validate';

/** The longest plan memlockReport takes. */
const MAX_PLAN_ENTRIES = 4096;

export interface MemlockStatus {
  /** RLIMIT_MEMLOCK soft limit in bytes (null when unlimited). */
  limit: bigint | null;
  hardLimit: bigint | null;
  /** VmLck: bytes the process has locked now. */
  locked: bigint;
  /** CAP_IPC_LOCK in the effective set: the kernel then ignores the limit. */
  capIpcLock: boolean;
}

export function readMemlockStatus(binding: NativeBinding): MemlockStatus {
  const { soft, hard } = binding.getMemlockLimit();
  return {
    limit: soft === U64_MAX ? null : soft,
    hardLimit: hard === U64_MAX ? null : hard,
    locked: binding.vmLockedBytes(),
    capIpcLock: binding.hasCapIpcLock(),
  };
}

function alignUp(value: bigint, alignment: bigint): bigint {
  return ((value + alignment - 1n) / alignment) * alignment;
}

/**
 * Bytes of locked memory a TCE table costs: the hardware table plus the same again for the
 * kernel's userspace view (it_userspace). This is the powernv IODA2 get_table_size: the
 * entries (8 bytes each) are split over `levels` levels of direct tables, each at least a
 * system page, and the kernel charges the total to locked_vm when the window is created.
 */
export function tceTableBytes(
  pageShift: number,
  windowSize: bigint,
  levels: number,
  systemPageSize: bigint,
): bigint {
  if (levels < 1 || levels > MAX_TABLE_LEVELS) return 0n;
  const entriesShift = log2(windowSize) - pageShift;
  let tceTableSize = 1n << BigInt(entriesShift + 3);
  if (tceTableSize < 0x1000n) tceTableSize = 0x1000n;
  const directTableSize = tceLevelBytes(pageShift, windowSize, levels, systemPageSize);
  let bytes = 0n;
  for (let level = levels; level > 0; level -= 1) {
    bytes += alignUp(tceTableSize, directTableSize);
    tceTableSize = (tceTableSize / directTableSize) << 3n;
    if (tceTableSize < directTableSize) tceTableSize = directTableSize;
  }
  return bytes * 2n;
}

/**
 * Bytes of one level of a TCE table (its direct tables): the kernel allocates each as one
 * physically contiguous block, which fails beyond the page allocator's largest order.
 */
export function tceLevelBytes(
  pageShift: number,
  windowSize: bigint,
  levels: number,
  systemPageSize: bigint,
): bigint {
  const entriesShift = log2(windowSize) - pageShift;
  const levelBytes = 1n << BigInt(Math.ceil(entriesShift / levels) + 3);
  return levelBytes < systemPageSize ? systemPageSize : levelBytes;
}

/** The largest block the kernel's page allocator gives (pageSize << MAX_PAGE_ORDER), or null. */
export function largestContiguousBlock(
  binding: NativeBinding,
  systemPageSize: bigint,
): bigint | null {
  const order = binding.maxPageOrder();
  return order < 0 ? null : systemPageSize << BigInt(order);
}

/** What a window of this geometry charges, its arguments checked as a public call's. */
export function windowCost(
  pageSize: bigint | number,
  size: bigint | number,
  levels: number,
  systemPageSize: bigint,
): bigint {
  const page = toSize('pageSize', pageSize, { min: 1n });
  const bytes = toSize('size', size, { min: 1n });
  if (!isPowerOfTwo(page) || !isPowerOfTwo(bytes)) {
    throw new ArgumentRangeError('page size and window size must be powers of two');
  }
  return tceTableBytes(
    log2(page),
    bytes,
    toIndex('levels', levels, MAX_TABLE_LEVELS),
    systemPageSize,
  );
}

/** Registering memory pins and charges every page of it. */
export function registrationBytes(size: bigint, systemPageSize: bigint): bigint {
  return alignUp(size, systemPageSize);
}

/** v1 ENABLE charges the whole DMA window, whatever is mapped later. */
export function v1EnableBytes(windowSize: bigint, systemPageSize: bigint): bigint {
  return alignUp(windowSize, systemPageSize);
}

/** The default window's TCE table and userspace view, charged when it is created (8 MiB). */
export function defaultWindowTableBytes(systemPageSize: bigint): bigint {
  const { pageShift, size, levels } = DEFAULT_WINDOW;
  return tceTableBytes(pageShift, size, levels, systemPageSize);
}

/** v1 ENABLE of the default window (`v1.enable-charge`). */
export function v1DefaultEnableBytes(systemPageSize: bigint): bigint {
  return v1EnableBytes(DEFAULT_WINDOW.size, systemPageSize);
}

/** The smallest `ulimit -l` (KiB) under which `locked + needed` fits. */
export function ulimitKiBFor(locked: bigint, needed: bigint): bigint {
  return (locked + needed + 1023n) / 1024n;
}

/** Whether `needed` more bytes fit; CAP_IPC_LOCK and an unlimited limit always fit. */
export function fits(status: MemlockStatus, needed: bigint): boolean {
  return status.capIpcLock || status.limit === null || status.locked + needed <= status.limit;
}

/** Throws MemlockLimitError when `needed` more locked bytes would not fit. */
export function assertFits(
  status: MemlockStatus,
  needed: bigint,
  /** What needs the memory; a function when building the text costs (hot paths). */
  operation: string | (() => string),
): void {
  if (needed === 0n || fits(status, needed)) return;
  throw new MemlockLimitError({
    operation: typeof operation === 'string' ? operation : operation(),
    needed,
    locked: status.locked,
    limit: status.limit ?? U64_MAX,
    ulimitKiB: ulimitKiBFor(status.locked, needed),
  });
}

export interface PlannedCost {
  what: string;
  bytes: bigint;
}

export interface MemlockReport extends MemlockStatus {
  plan: PlannedCost[];
  /** Sum of the plan. */
  needed: bigint;
  fits: boolean;
  /** The `ulimit -l` value (KiB) that fits what is locked now plus the plan. */
  ulimitKiB: bigint;
}

/** The status plus what a plan of operations would need: what `vfio-spapr memlock` prints. */
export function memlockReport(status: MemlockStatus, plan: PlannedCost[] = []): MemlockReport {
  if (!Array.isArray(plan)) {
    throw new InvalidArgumentError('plan must be an array of { what, bytes } entries');
  }
  if (plan.length > MAX_PLAN_ENTRIES) {
    // A sparse array of length 2^32-1 would otherwise be walked index by index.
    throw new ArgumentRangeError(`plan has ${plan.length} entries; at most ${MAX_PLAN_ENTRIES}`);
  }
  plan = plan.map((item, i) => {
    if (typeof item !== 'object' || item === null || typeof item.what !== 'string') {
      throw new InvalidArgumentError(`plan[${i}] must be { what: string, bytes: bigint }`);
    }
    return { what: item.what, bytes: toSize(`plan[${i}].bytes`, item.bytes) };
  });
  const needed = plan.reduce((sum, item) => sum + item.bytes, 0n);
  return {
    ...status,
    plan,
    needed,
    fits: fits(status, needed),
    ulimitKiB: ulimitKiBFor(status.locked, needed),
  };
}
