// What the SPAPR TCE kernel driver does that a caller would not expect, and how the library
// compensates, one named piece each. Each is measured on 6.12 and listed in docs/kernel.md.
import type { NativeBinding, NativeError } from '../binding';
import {
  ArgumentRangeError,
  HugetlbRegistrationError,
  RegionOverlapError,
  TceTableAllocationError,
  callNative,
} from '../errors';
import { DEFAULT_WINDOW } from '../kernel-constants';
import type { Ledger } from '../ledger';
import { tceLevelBytes, tceTableBytes } from '../memlock';
import { hex } from '../validate';

/**
 * The kernel creates the default 32-bit window's TCE table lazily, at the first map, unmap
 * or window creation after setIommu, and charges its table to locked memory then (8 MiB for
 * the 2 GiB window of 4K pages). Until then the charge is pending and must be predicted.
 */
export class LazyDefaultWindow {
  private pending = true;

  constructor(
    private readonly windowSize: bigint,
    private readonly systemPageSize: bigint,
  ) {}

  /** What the next map, unmap or window creation will charge for the default window. */
  pendingBytes(): bigint {
    if (!this.pending) return 0n;
    const { pageShift, levels } = DEFAULT_WINDOW;
    return tceTableBytes(pageShift, this.windowSize, levels, this.systemPageSize);
  }

  /** The kernel has created (or removed) the default window: nothing more is pending. */
  settled(): void {
    this.pending = false;
  }
}

/**
 * A window whose TCE table level is larger than the page allocator's largest block: the
 * kernel charges the whole table to locked memory, fails the allocation with ENOMEM and
 * never gives the charge back (measured: 64 MiB per attempt). Refused before the ioctl.
 */
export function assertTceLevelsAllocatable(
  largest: bigint | null,
  geometry: { pageShift: number; size: bigint; levels: number; maxLevels: number },
  systemPageSize: bigint,
): void {
  const { pageShift, size, levels, maxLevels } = geometry;
  const levelBytes = (n: number) => tceLevelBytes(pageShift, size, n, systemPageSize);
  if (largest === null || levelBytes(levels) <= largest) return;
  let enough = levels + 1;
  while (enough <= maxLevels && levelBytes(enough) > largest) enough += 1;
  throw new TceTableAllocationError({
    windowSize: size,
    pageSize: 1n << BigInt(pageShift),
    levels,
    tableBytes: tceTableBytes(pageShift, size, levels, systemPageSize),
    levelBytes: levelBytes(levels),
    largestBlock: largest,
    levelsThatFit: enough <= maxLevels ? enough : null,
    maxLevels,
  });
}

/**
 * ENOMEM from TCE_CREATE: the kernel creates a pending default window first, then charges
 * the new table and allocates it; a failed allocation keeps the charge. Reads VmLck against
 * what it was before the call to tell which charges stayed.
 */
export function classifyWindowCreateFailure(
  native: NativeError,
  facts: {
    lockedRise: bigint;
    tableBytes: bigint;
    defaultBytes: bigint;
    window: { windowSize: bigint; pageSize: bigint; levels: number };
    defaultWindow: LazyDefaultWindow;
  },
): Error | undefined {
  if (native.code !== 'ENOMEM') return undefined;
  const { lockedRise, tableBytes, defaultBytes } = facts;
  const stranded = lockedRise >= tableBytes ? tableBytes : 0n;
  if (defaultBytes > 0n && lockedRise - stranded >= defaultBytes) facts.defaultWindow.settled();
  if (stranded === 0n) return undefined;
  return new TceTableAllocationError({ ...facts.window, strandedBytes: stranded });
}

/**
 * Huge pages on a 4K-page kernel: the kernel's pin retries hugetlb_fault forever, so the
 * registering thread never returns (seen on 6.12 ppc64el). Refused before the ioctl.
 */
export function assertRegistrationWillReturn(
  backingPageSize: bigint,
  systemPageSize: bigint,
): void {
  if (backingPageSize > systemPageSize && systemPageSize < 65536n) {
    throw new HugetlbRegistrationError({ backingPageSize, systemPageSize });
  }
}

/**
 * A registration larger than the machine's memory can never be pinned, but as root (no
 * memlock limit) the kernel first vzalloc()s an array of one entry per page for it, and for
 * such sizes the allocator WARNs with a call trace in the kernel log before the ENOMEM
 * (measured with 2^63 bytes of caller-owned memory). Refused before the ioctl.
 */
export function assertRegistrationFitsMemory(size: bigint, totalMemory: bigint): void {
  if (size > totalMemory) {
    throw new ArgumentRangeError(
      `size ${hex(size)} is more than this machine's memory (${hex(totalMemory)} bytes): ` +
        'the kernel could never pin it',
    );
  }
}

/**
 * EINVAL for a registration the container's books allowed (aligned, no overlap in this
 * container). The kernel keeps one list of registrations per process, not per container: it
 * shares a range registered again with exactly the same address and size, and refuses one
 * that overlaps it otherwise (measured: EINVAL, and no locked memory charged). Another
 * container of this process registered that memory.
 */
export function classifyRegistrationFailure(
  native: NativeError,
  address: bigint,
  size: bigint,
): Error | undefined {
  if (native.code !== 'EINVAL') return undefined;
  return new RegionOverlapError({ address, size, conflict: null, scope: 'process' });
}

/**
 * When one group of a v2 container is detached, the live mappings stop translating for the
 * groups that remain (their devices' DMA no longer reaches the memory), while the kernel
 * still counts them as mapped. MAP_DMA over the same range (a replacement, to the kernel)
 * makes them translate again (test/vm/faults.test.ts). Guest TCE tables are mapped again too.
 */
export function reinstallMappingsAfterDetach(
  binding: NativeBinding,
  fd: number,
  ledger: Ledger,
  groupNumber: number,
): void {
  const c = binding.constants;
  for (const record of ledger.mappings()) {
    const flags =
      (record.readable ? c.VFIO_DMA_MAP_FLAG_READ : 0) |
      (record.writable ? c.VFIO_DMA_MAP_FLAG_WRITE : 0);
    callNative(
      `re-installing the mapping at IOVA ${hex(record.iova)} after group ${groupNumber} left`,
      () => binding.mapDma(fd, record.address, record.iova, record.size, flags),
    );
  }
  for (const window of ledger.windows()) window.servedBy?.reinstall();
}
