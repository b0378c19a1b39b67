// Pure bookkeeping, no I/O: the registered regions by virtual address, the DMA windows,
// and the live mappings by IOVA per window. It is the user-space view of the TCE table
// and the place where every request the kernel would mishandle is refused.
import BTree from 'sorted-btree';
import {
  AlignmentError,
  ArgumentRangeError,
  MappingNotFoundError,
  MappingOverlapError,
  NotRegisteredError,
  OutsideWindowError,
  PageSizeError,
  RegionInUseError,
  RegionNotFoundError,
  RegionOverlapError,
  WindowInUseError,
} from './errors';
import { hex } from './validate';

// The checks count in 4 KiB granules held in numbers (see toGranules), not in bigints: under
// emulation a bigint sum costs ~6 µs and a remainder ~4 µs (measured in the guest), a number
// operation a fraction of that. The records keep the bigints users see beside them.

export interface RegionRecord {
  readonly address: bigint;
  readonly size: bigint;
  /** address and address + size in granules */
  readonly first: number;
  readonly limit: number;
  /** The page size backing the memory: an IOMMU page may not be larger. */
  readonly backingPageSize: bigint;
  /** Whatever must stay alive while the region is registered (a DmaBuffer, or null). */
  readonly owner: unknown;
  /** Live mappings that touch this region. */
  mappingCount: number;
  /** The library's object for this record, set by the container; null once forgotten. */
  handle: unknown;
}

export interface WindowRecord {
  readonly start: bigint;
  readonly size: bigint;
  readonly pageSize: bigint;
  /** start, start + size and pageSize in granules */
  readonly first: number;
  readonly limit: number;
  readonly pageGranules: number;
  readonly levels: number;
  /** The default 32-bit window the kernel creates by itself. */
  readonly isDefault: boolean;
  /** By IOVA, keyed by first granule. */
  readonly mappings: BTree<number, MappingRecord>;
}

export interface MappingRecord {
  readonly iova: bigint;
  readonly size: bigint;
  /** iova (the key in the window's tree) and iova + size in granules */
  readonly first: number;
  readonly limit: number;
  readonly address: bigint;
  readonly readable: boolean;
  readonly writable: boolean;
  readonly window: WindowRecord;
  /** The registered regions the mapping lies in (several when they are adjacent); empty on v1. */
  readonly regions: readonly RegionRecord[];
  /** Whatever must stay alive while mapped (a DmaBuffer, or null). */
  readonly owner: unknown;
  /** The library's object for this record, set by the container; null once forgotten. */
  handle: unknown;
}

/** What backs one IOVA: the answer to "what is at this bus address". */
export interface Translation {
  iova: bigint;
  window: WindowRecord;
  mapping: MappingRecord;
  /** Offset of the IOVA inside the mapping. */
  offset: bigint;
  /** The process virtual address the IOVA translates to. */
  address: bigint;
  /** The registered region holding that address (undefined on v1). */
  region?: RegionRecord;
}

export interface MapRequest {
  address: bigint;
  iova: bigint;
  size: bigint;
  readable: boolean;
  writable: boolean;
  owner: unknown;
}

/** A registration checkRegister allowed: the range, and in granules. */
export interface RegisterPlan {
  readonly address: bigint;
  readonly size: bigint;
  readonly first: number;
  readonly limit: number;
}

export interface MapPlan {
  readonly request: MapRequest;
  readonly window: WindowRecord;
  readonly regions: RegionRecord[];
  /** The IOVA range in granules */
  readonly first: number;
  readonly limit: number;
}

function compareBigInt(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The smallest system or IOMMU page on POWER: every address and IOVA in the books is aligned to it. */
const GRANULE = 4096;
const GRANULE_BIG = 4096n;
const ADDRESS_SPACE_END = 1n << 64n;
/** A range ending at or beyond this many granules may pass 2^64 (2^52 granules). */
const LAST_GRANULES = 2 ** 52 - 2;
/** Below this a bigint converts to a number exactly. */
const EXACT_BELOW = 2 ** 53;

/**
 * A byte address or size in 4 KiB granules, as a number: exact for multiples of 4 KiB (below
 * 2^64 they are below 2^52 granules), and for any other value a non-integer between the same
 * two integers, so the alignment tests and the ordering stay right. User addresses are below
 * 2^53: one Number() and a division by a power of two, both exact.
 */
export function toGranules(value: bigint): number {
  const n = Number(value);
  if (n < EXACT_BELOW) return n / GRANULE;
  const whole = Number(value >> 12n);
  return (value & 0xfffn) === 0n ? whole : whole + 0.5;
}

/** Whether a granule count is a whole number of pages of `pageGranules` (a power of two). */
function isMultiple(granules: number, pageGranules: number): boolean {
  return granules % pageGranules === 0;
}

/**
 * The keys are finite numbers (granules): a subtraction orders them. The library's default
 * comparator also orders strings, NaN and objects, which costs every lookup its type tests
 * (measured: the ledger's ascending checks with 100,000 entries took about twice as long).
 */
function compareGranules(a: number, b: number): number {
  return a - b;
}

function newTree<V>(): BTree<number, V> {
  return new BTree<number, V>(undefined, compareGranules);
}

const scratchPair: [number, unknown] = [0, undefined];

/** The entry with the greatest key at or below `key`, without allocating a pair. */
function atOrBelow<V>(tree: BTree<number, V>, key: number): V | undefined {
  const value = tree.getPairOrNextLower(key, scratchPair as [number, V])?.[1];
  scratchPair[1] = undefined; // hold no record after the lookup
  return value;
}

function range(start: bigint, size: bigint): string {
  return `[${hex(start)}, ${hex(start + size)})`;
}

export class Ledger {
  private readonly regionsByAddress = newTree<RegionRecord>();
  private readonly windowList: WindowRecord[] = [];
  private readonly systemPageGranules: number;

  constructor(
    /** Registration granularity: the system page size. */
    readonly systemPageSize: bigint,
    /** v2 maps only registered memory; v1 maps any memory. */
    private readonly registrationRequired: boolean,
  ) {
    if (systemPageSize < GRANULE_BIG || systemPageSize % GRANULE_BIG !== 0n) {
      throw new RangeError(`the system page size must be a multiple of ${GRANULE}`);
    }
    this.systemPageGranules = toGranules(systemPageSize);
  }

  // --- regions ---------------------------------------------------------------------------

  /** Throws unless [address, address+size) can be registered; returns what commitRegister records. */
  checkRegister(address: bigint, size: bigint): RegisterPlan {
    const first = toGranules(address);
    const count = toGranules(size);
    // Only a range reaching the last granules can pass 2^64: the exact bigint test is rare.
    if (first + count >= LAST_GRANULES && address + size > ADDRESS_SPACE_END) {
      throw new ArgumentRangeError(
        `registration of ${hex(size)} bytes at ${hex(address)} runs past the end of the address space`,
      );
    }
    const page = this.systemPageGranules;
    if (count === 0) throw new AlignmentError('a registration must be at least one page long');
    if (!isMultiple(first, page) || !isMultiple(count, page)) {
      throw new AlignmentError(
        `registration ${range(address, size)} is not aligned to the ${this.systemPageSize}-byte system page`,
      );
    }
    const clash = this.regionOverlapping(first, first + count);
    if (clash) {
      const same = clash.address === address && clash.size === size;
      throw new RegionOverlapError(
        same
          ? `${range(address, size)} is already registered`
          : `${range(address, size)} overlaps the registered region ${range(clash.address, clash.size)}`,
      );
    }
    return { address, size, first, limit: first + count };
  }

  /** Records a registration that checkRegister allowed and the kernel accepted. */
  commitRegister(
    { address, size, first, limit }: RegisterPlan,
    backingPageSize: bigint,
    owner: unknown,
  ): RegionRecord {
    const region: RegionRecord = {
      address,
      size,
      first,
      limit,
      backingPageSize,
      owner,
      mappingCount: 0,
      handle: null,
    };
    this.regionsByAddress.set(first, region);
    return region;
  }

  /** The registered region exactly equal to the range. */
  regionExactly(address: bigint, size: bigint): RegionRecord {
    const found = this.regionsByAddress.get(toGranules(address));
    if (!found || found.size !== size) {
      throw new RegionNotFoundError(
        `${range(address, size)} is not a registered region: unregister must name exactly the ` +
          `address and size that were registered${found ? ` (${range(found.address, found.size)})` : ''}`,
      );
    }
    return found;
  }

  /** The registered region exactly equal to the range, refusing one that is still mapped. */
  checkUnregister(address: bigint, size: bigint): RegionRecord {
    const region = this.regionExactly(address, size);
    if (region.mappingCount > 0) {
      throw new RegionInUseError(
        `region ${range(address, size)} still has ${region.mappingCount} live mapping(s): unmap ` +
          'them first (the kernel would accept the unregister and leave the pages pinned until exit)',
      );
    }
    return region;
  }

  /** Forgets a region that checkUnregister allowed and the kernel released. */
  commitUnregister(region: RegionRecord): void {
    this.regionsByAddress.delete(region.first);
  }

  regions(): RegionRecord[] {
    return this.regionsByAddress.valuesArray();
  }

  regionCount(): number {
    return this.regionsByAddress.size;
  }

  /** The region holding the address, if any. */
  regionAt(address: bigint): RegionRecord | undefined {
    return this.regionHolding(toGranules(address));
  }

  /** The region holding the granule position, if any. */
  private regionHolding(at: number): RegionRecord | undefined {
    const region = atOrBelow(this.regionsByAddress, at);
    return region && at < region.limit ? region : undefined;
  }

  /** A region overlapping [first, limit) (whole granules), if any. */
  private regionOverlapping(first: number, limit: number): RegionRecord | undefined {
    const region = atOrBelow(this.regionsByAddress, limit - 1);
    return region && region.limit > first ? region : undefined;
  }

  // --- windows ---------------------------------------------------------------------------

  commitWindow(start: bigint, size: bigint, pageSize: bigint, levels: number, isDefault: boolean) {
    if (pageSize < GRANULE_BIG || pageSize % GRANULE_BIG !== 0n || start % GRANULE_BIG !== 0n) {
      throw new RangeError(`IOMMU pages and windows are aligned to at least ${GRANULE} bytes`);
    }
    // The alignment checks count whole pages with a remainder of granules, which needs a
    // power of two (the kernel offers no other IOMMU page size).
    if ((pageSize & (pageSize - 1n)) !== 0n) {
      throw new RangeError(`an IOMMU page size is a power of two, not ${pageSize}`);
    }
    const first = toGranules(start);
    const window: WindowRecord = {
      start,
      size,
      pageSize,
      first,
      limit: first + toGranules(size),
      pageGranules: toGranules(pageSize),
      levels,
      isDefault,
      mappings: newTree(),
    };
    this.windowList.push(window);
    this.windowList.sort((a, b) => compareBigInt(a.start, b.start));
    return window;
  }

  checkRemoveWindow(window: WindowRecord): void {
    if (window.mappings.size > 0) {
      throw new WindowInUseError(
        `window ${range(window.start, window.size)} still has ${window.mappings.size} live ` +
          'mapping(s): unmap them first',
      );
    }
  }

  /** Forgets a window that checkRemoveWindow allowed and the kernel removed. */
  commitRemoveWindow(window: WindowRecord): void {
    this.windowList.splice(this.windowList.indexOf(window), 1);
  }

  windows(): readonly WindowRecord[] {
    return this.windowList;
  }

  windowAt(iova: bigint): WindowRecord | undefined {
    return this.windowHolding(toGranules(iova));
  }

  private windowHolding(at: number): WindowRecord | undefined {
    for (const w of this.windowList) if (at >= w.first && at < w.limit) return w;
    return undefined;
  }

  // --- mappings --------------------------------------------------------------------------

  /** Throws unless the request can be mapped; returns the plan commitMap records. */
  checkMap(request: MapRequest): MapPlan {
    const { address, iova, size } = request;
    const first = toGranules(iova);
    const window = this.windowHolding(first);
    if (!window) {
      throw new OutsideWindowError(
        `IOVA ${hex(iova)} is in no DMA window (windows: ${this.describeWindows()})`,
      );
    }
    const count = toGranules(size);
    const page = window.pageGranules;
    if (count === 0) throw new AlignmentError('a mapping must be at least one IOMMU page long');
    if (!isMultiple(first, page) || !isMultiple(count, page)) {
      throw new AlignmentError(
        `mapping of ${hex(size)} bytes at IOVA ${hex(iova)} from ${hex(address)} is not aligned ` +
          `to the window's ${window.pageSize}-byte IOMMU page`,
      );
    }
    const limit = first + count;
    if (limit > window.limit) {
      throw new OutsideWindowError(
        `IOVA range ${range(iova, size)} runs past the end of its window ` +
          `${range(window.start, window.size)}`,
      );
    }
    const from = toGranules(address);
    const regions = this.registrationRequired ? this.regionsCovering(from, count, request) : [];
    for (const region of regions) {
      if (region.backingPageSize < window.pageSize) {
        throw new PageSizeError(
          `region ${range(region.address, region.size)} is backed by ${region.backingPageSize}-byte ` +
            `pages, smaller than the window's ${window.pageSize}-byte IOMMU page; back it with pages of at ` +
            'least that size (hugetlbfs, or the 64K-page kernel) or map it in a window of smaller pages',
        );
      }
    }
    // After the page-size check: memory backed by small pages is misaligned as a consequence.
    if (!isMultiple(from, page)) {
      throw new AlignmentError(
        `mapping from ${hex(address)} is not aligned to the window's ${window.pageSize}-byte IOMMU page`,
      );
    }
    const clash = atOrBelow(window.mappings, limit - 1);
    if (clash && clash.limit > first) {
      throw new MappingOverlapError(
        `IOVA range ${range(iova, size)} overlaps the live mapping ${range(clash.iova, clash.size)}: ` +
          'unmap it first (the kernel would silently replace the translation)',
      );
    }
    return { request, window, regions, first, limit };
  }

  /** Records a mapping that checkMap allowed and the kernel accepted. */
  commitMap({ request, window, regions, first, limit }: MapPlan): MappingRecord {
    // Field by field: a spread of the request goes through V8's slow generic copy.
    const mapping: MappingRecord = {
      iova: request.iova,
      size: request.size,
      first,
      limit,
      address: request.address,
      readable: request.readable,
      writable: request.writable,
      window,
      regions,
      owner: request.owner,
      handle: null,
    };
    window.mappings.set(first, mapping);
    for (const region of regions) region.mappingCount += 1;
    return mapping;
  }

  /** The live mapping exactly equal to [iova, iova+size). */
  mappingExactly(iova: bigint, size: bigint): MappingRecord {
    const first = toGranules(iova);
    const found = this.windowHolding(first)?.mappings.get(first);
    if (!found || found.size !== size) {
      throw new MappingNotFoundError(
        `${range(iova, size)} is not a live mapping${found ? ` (the mapping at ${hex(iova)} is ${hex(found.size)} bytes)` : ''}`,
      );
    }
    return found;
  }

  /** Forgets a mapping the kernel has unmapped. */
  commitUnmap(mapping: MappingRecord): void {
    if (mapping.window.mappings.get(mapping.first) !== mapping) {
      throw new MappingNotFoundError(`${range(mapping.iova, mapping.size)} is not a live mapping`);
    }
    mapping.window.mappings.delete(mapping.first);
    for (const region of mapping.regions) region.mappingCount -= 1;
  }

  /** What is at this bus address, without asking the kernel. */
  translate(iova: bigint): Translation | undefined {
    const at = toGranules(iova);
    const window = this.windowHolding(at);
    const mapping = window && atOrBelow(window.mappings, at);
    if (!window || !mapping || at >= mapping.limit) return undefined;
    const offset = iova - mapping.iova;
    const address = mapping.address + offset;
    const from = toGranules(address);
    const region = mapping.regions.find((r) => from >= r.first && from < r.limit);
    return { iova, window, mapping, offset, address, region };
  }

  mappings(): MappingRecord[] {
    return this.windowList.flatMap((w) => w.mappings.valuesArray());
  }

  mappingCount(): number {
    return this.windowList.reduce((n, w) => n + w.mappings.size, 0);
  }

  /** The registered regions that together cover `count` granules from `from`, in order. */
  private regionsCovering(from: number, count: number, request: MapRequest): RegionRecord[] {
    const limit = from + count;
    const covering: RegionRecord[] = [];
    let cursor = from;
    while (cursor < limit) {
      const region = this.regionHolding(cursor);
      if (!region) {
        const { address, size } = request;
        const previous = covering[covering.length - 1];
        const missing = previous ? previous.address + previous.size : address;
        throw new NotRegisteredError(
          `memory at ${hex(missing)} (in ${range(address, size)}) is not registered: register it ` +
            'before mapping (the kernel would say EPERM)',
        );
      }
      covering.push(region);
      cursor = region.limit;
    }
    return covering;
  }

  private describeWindows(): string {
    if (this.windowList.length === 0) return 'none';
    return this.windowList
      .map((w) => `${range(w.start, w.size)} of ${w.pageSize}-byte pages`)
      .join(', ');
  }
}
