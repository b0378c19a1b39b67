// Pure bookkeeping, no I/O: the registered regions by virtual address, the DMA windows,
// and the live mappings by IOVA per window. It is the user-space view of the TCE table
// and the place where every request the kernel would mishandle is refused.
import BTree from 'sorted-btree';
import {
  AlignmentError,
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

// Records carry their end (and windows their page mask) precomputed: under emulation a bigint
// sum costs ~6 µs and a remainder ~4 µs (measured in the guest), so the hot paths (map, unmap,
// register, lookups) do as few as they can.

export interface RegionRecord {
  readonly address: bigint;
  readonly size: bigint;
  /** address + size */
  readonly end: bigint;
  /** The page size backing the memory: an IOMMU page may not be larger. */
  readonly backingPageSize: bigint;
  /** Whatever must stay alive while the region is registered (a DmaBuffer, or null). */
  readonly owner: unknown;
  /** Live mappings that touch this region. */
  mappingCount: number;
}

export interface WindowRecord {
  readonly start: bigint;
  readonly size: bigint;
  /** start + size */
  readonly end: bigint;
  readonly pageSize: bigint;
  /** pageSize - 1: an address is aligned when (address & mask) === 0n */
  readonly mask: bigint;
  readonly levels: number;
  /** The default 32-bit window the kernel creates by itself. */
  readonly isDefault: boolean;
  /** By IOVA, keyed by 4 KiB page number (see pageKey). */
  readonly mappings: BTree<number, MappingRecord>;
}

export interface MappingRecord {
  readonly iova: bigint;
  readonly size: bigint;
  /** iova + size */
  readonly end: bigint;
  /** The key in the window's tree: pageKey(iova). */
  readonly key: number;
  readonly address: bigint;
  readonly readable: boolean;
  readonly writable: boolean;
  readonly window: WindowRecord;
  /** The registered regions the mapping lies in (several when they are adjacent); empty on v1. */
  readonly regions: readonly RegionRecord[];
  /** Whatever must stay alive while mapped (a DmaBuffer, or null). */
  readonly owner: unknown;
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

export interface MapPlan {
  readonly request: MapRequest;
  readonly window: WindowRecord;
  readonly regions: RegionRecord[];
  /** request.iova + request.size */
  readonly end: bigint;
}

function compareBigInt(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The smallest system or IOMMU page on POWER: every address and IOVA in the books is aligned to it. */
const KEY_GRANULE = 4096n;
const KEY_SHIFT = 12n;

/**
 * The books' B-tree key for an address or IOVA: its 4 KiB page number, a number (exact:
 * below 2^52). Number keys sit unboxed in the tree's arrays, where bigint keys are heap
 * objects that every comparison must chase: with 100,000 entries that pointer chasing, not
 * the tree's depth, was most of the cost of a lookup. Every start in the books is 4 KiB
 * aligned, so "the entry at or below page(x)" is exactly "the entry starting at or below x".
 */
function pageKey(value: bigint): number {
  // A shift, not a division: half the cost under emulation (measured in the guest).
  return Number(value >> KEY_SHIFT);
}

function newTree<V>(): BTree<number, V> {
  return new BTree<number, V>();
}

function range(start: bigint, size: bigint): string {
  return `[${hex(start)}, ${hex(start + size)})`;
}

export class Ledger {
  private readonly regionsByAddress = newTree<RegionRecord>();
  private readonly windowList: WindowRecord[] = [];

  constructor(
    /** Registration granularity: the system page size. */
    readonly systemPageSize: bigint,
    /** v2 maps only registered memory; v1 maps any memory. */
    private readonly registrationRequired: boolean,
  ) {
    if (systemPageSize < KEY_GRANULE || systemPageSize % KEY_GRANULE !== 0n) {
      throw new RangeError(`the system page size must be a multiple of ${KEY_GRANULE}`);
    }
  }

  // --- regions ---------------------------------------------------------------------------

  /** Throws unless [address, address+size) can be registered. */
  checkRegister(address: bigint, size: bigint): void {
    const page = this.systemPageSize;
    if (size === 0n) throw new AlignmentError('a registration must be at least one page long');
    if (address % page !== 0n || size % page !== 0n) {
      throw new AlignmentError(
        `registration ${range(address, size)} is not aligned to the ${page}-byte system page`,
      );
    }
    const clash = this.regionOverlapping(address, size);
    if (clash) {
      const same = clash.address === address && clash.size === size;
      throw new RegionOverlapError(
        same
          ? `${range(address, size)} is already registered`
          : `${range(address, size)} overlaps the registered region ${range(clash.address, clash.size)}`,
      );
    }
  }

  /** Records a registration that checkRegister allowed and the kernel accepted. */
  commitRegister(
    address: bigint,
    size: bigint,
    backingPageSize: bigint,
    owner: unknown,
  ): RegionRecord {
    const end = address + size;
    const region: RegionRecord = { address, size, end, backingPageSize, owner, mappingCount: 0 };
    this.regionsByAddress.set(pageKey(address), region);
    return region;
  }

  /** The registered region exactly equal to the range. */
  regionExactly(address: bigint, size: bigint): RegionRecord {
    const found = this.regionsByAddress.get(pageKey(address));
    const region = found?.address === address ? found : undefined;
    if (!region || region.size !== size) {
      throw new RegionNotFoundError(
        `${range(address, size)} is not a registered region: unregister must name exactly the ` +
          `address and size that were registered${region ? ` (${range(region.address, region.size)})` : ''}`,
      );
    }
    return region;
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
    this.regionsByAddress.delete(pageKey(region.address));
  }

  regions(): RegionRecord[] {
    return this.regionsByAddress.valuesArray();
  }

  regionCount(): number {
    return this.regionsByAddress.size;
  }

  /** The region holding the address, if any. */
  regionAt(address: bigint): RegionRecord | undefined {
    const pair = this.regionsByAddress.getPairOrNextLower(pageKey(address));
    return pair && address < pair[1].end ? pair[1] : undefined;
  }

  private regionOverlapping(address: bigint, size: bigint): RegionRecord | undefined {
    const pair = this.regionsByAddress.getPairOrNextLower(pageKey(address + size - 1n));
    return pair && pair[1].end > address ? pair[1] : undefined;
  }

  // --- windows ---------------------------------------------------------------------------

  commitWindow(start: bigint, size: bigint, pageSize: bigint, levels: number, isDefault: boolean) {
    if (pageSize < KEY_GRANULE || pageSize % KEY_GRANULE !== 0n || start % KEY_GRANULE !== 0n) {
      throw new RangeError(`IOMMU pages and windows are aligned to at least ${KEY_GRANULE} bytes`);
    }
    // The alignment checks test against mask = pageSize - 1: exact only for powers of two
    // (the kernel offers no other IOMMU page size).
    if ((pageSize & (pageSize - 1n)) !== 0n) {
      throw new RangeError(`an IOMMU page size is a power of two, not ${pageSize}`);
    }
    const window: WindowRecord = {
      start,
      size,
      end: start + size,
      pageSize,
      mask: pageSize - 1n,
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
    return this.windowList.find((w) => iova >= w.start && iova < w.end);
  }

  // --- mappings --------------------------------------------------------------------------

  /** Throws unless the request can be mapped; returns the plan commitMap records. */
  checkMap(request: MapRequest): MapPlan {
    const { address, iova, size } = request;
    const window = this.windowAt(iova);
    if (!window) {
      throw new OutsideWindowError(
        `IOVA ${hex(iova)} is in no DMA window (windows: ${this.describeWindows()})`,
      );
    }
    const page = window.pageSize;
    if (size === 0n) throw new AlignmentError('a mapping must be at least one IOMMU page long');
    if ((iova & window.mask) !== 0n || (size & window.mask) !== 0n) {
      throw new AlignmentError(
        `mapping of ${hex(size)} bytes at IOVA ${hex(iova)} from ${hex(address)} is not aligned ` +
          `to the window's ${page}-byte IOMMU page`,
      );
    }
    const end = iova + size;
    if (end > window.end) {
      throw new OutsideWindowError(
        `IOVA range ${range(iova, size)} runs past the end of its window ` +
          `${range(window.start, window.size)}`,
      );
    }
    const regions = this.registrationRequired ? this.regionsCovering(address, size) : [];
    for (const region of regions) {
      if (region.backingPageSize < page) {
        throw new PageSizeError(
          `region ${range(region.address, region.size)} is backed by ${region.backingPageSize}-byte ` +
            `pages, smaller than the window's ${page}-byte IOMMU page; back it with pages of at ` +
            'least that size (hugetlbfs, or the 64K-page kernel) or map it in a window of smaller pages',
        );
      }
    }
    // After the page-size check: memory backed by small pages is misaligned as a consequence.
    if ((address & window.mask) !== 0n) {
      throw new AlignmentError(
        `mapping from ${hex(address)} is not aligned to the window's ${page}-byte IOMMU page`,
      );
    }
    const clash = window.mappings.getPairOrNextLower(pageKey(end - 1n))?.[1];
    if (clash && clash.end > iova) {
      throw new MappingOverlapError(
        `IOVA range ${range(iova, size)} overlaps the live mapping ${range(clash.iova, clash.size)}: ` +
          'unmap it first (the kernel would silently replace the translation)',
      );
    }
    return { request, window, regions, end };
  }

  /** Records a mapping that checkMap allowed and the kernel accepted. */
  commitMap({ request, window, regions, end }: MapPlan): MappingRecord {
    // Field by field: a spread of the request goes through V8's slow generic copy.
    const key = pageKey(request.iova);
    const mapping: MappingRecord = {
      iova: request.iova,
      size: request.size,
      end,
      key,
      address: request.address,
      readable: request.readable,
      writable: request.writable,
      window,
      regions,
      owner: request.owner,
    };
    window.mappings.set(key, mapping);
    for (const region of regions) region.mappingCount += 1;
    return mapping;
  }

  /** The live mapping exactly equal to [iova, iova+size). */
  mappingExactly(iova: bigint, size: bigint): MappingRecord {
    const found = this.windowAt(iova)?.mappings.get(pageKey(iova));
    const mapping = found?.iova === iova ? found : undefined;
    if (!mapping || mapping.size !== size) {
      throw new MappingNotFoundError(
        `${range(iova, size)} is not a live mapping${mapping ? ` (the mapping at ${hex(iova)} is ${hex(mapping.size)} bytes)` : ''}`,
      );
    }
    return mapping;
  }

  /** Forgets a mapping the kernel has unmapped. */
  commitUnmap(mapping: MappingRecord): void {
    if (mapping.window.mappings.get(mapping.key) !== mapping) {
      throw new MappingNotFoundError(`${range(mapping.iova, mapping.size)} is not a live mapping`);
    }
    mapping.window.mappings.delete(mapping.key);
    for (const region of mapping.regions) region.mappingCount -= 1;
  }

  /** What is at this bus address, without asking the kernel. */
  translate(iova: bigint): Translation | undefined {
    const window = this.windowAt(iova);
    const mapping = window?.mappings.getPairOrNextLower(pageKey(iova))?.[1];
    if (!window || !mapping || iova >= mapping.end) return undefined;
    const offset = iova - mapping.iova;
    const address = mapping.address + offset;
    const region = mapping.regions.find((r) => address >= r.address && address < r.end);
    return { iova, window, mapping, offset, address, region };
  }

  mappings(): MappingRecord[] {
    return this.windowList.flatMap((w) => w.mappings.valuesArray());
  }

  mappingCount(): number {
    return this.windowList.reduce((n, w) => n + w.mappings.size, 0);
  }

  /** The registered regions that together cover [address, address+size), in order. */
  private regionsCovering(address: bigint, size: bigint): RegionRecord[] {
    const end = address + size;
    const covering: RegionRecord[] = [];
    let cursor = address;
    while (cursor < end) {
      const region = this.regionAt(cursor);
      if (!region) {
        throw new NotRegisteredError(
          `memory at ${hex(cursor)} (in ${range(address, size)}) is not registered: register it ` +
            'before mapping (the kernel would say EPERM)',
        );
      }
      covering.push(region);
      cursor = region.end;
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
