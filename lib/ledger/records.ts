// The records the ledger keeps: registered regions, windows, mappings, and the plans its
// checks return for the commits. Each holds the bigints users see and, for the checks, the
// same values in granules (see granules.ts).
import type BTree from 'sorted-btree';

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
  /** What holds the region besides its mappings (a guest RAM slot), named for errors. */
  heldBy: string | null;
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
  /** A guest TCE table that serves the window's IOVAs instead of the mappings, or null. */
  servedBy: WindowServer | null;
}

/** What serves a window for a guest: its TCE table (lib/guest/tce-table.ts). */
export interface WindowServer {
  readonly liobn: number;
  /** The live entry at a bus address: the guest's TCE and the host address, or undefined. */
  translate(iova: bigint): { tce: bigint; address: bigint } | undefined;
  /** Maps every live entry again (after a group left the container). */
  reinstall(): void;
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
  /** The mapping, or null in a window a guest TCE table serves (then `guest` is set). */
  mapping: MappingRecord | null;
  guest?: { liobn: number; tce: bigint };
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
