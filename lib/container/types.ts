// The shapes the container's public methods take and return.
import type { NativeBinding } from '../binding';
import type { DmaBuffer } from '../dma-buffer';
import type { Mapping } from '../mapping';
import type { Region } from '../region';
import type { Window } from '../window';

export type IommuType = 'v2' | 'v1';

export interface ContainerOptions {
  /** The native binding to use (tests pass a fake). */
  binding?: NativeBinding;
}

export interface ContainerInfo {
  /** The default 32-bit DMA window. */
  dma32: { start: bigint; size: bigint };
  /** Dynamic DMA windows; null on hosts without them (pre-IODA2) and on v1 containers. */
  ddw: { pageSizes: bigint[]; maxWindows: number; levels: number } | null;
}

export interface WindowOptions {
  /** IOMMU page size in bytes: one of info().ddw.pageSizes. */
  pageSize: bigint | number;
  /** Window size in bytes: a power of two, a multiple of pageSize. */
  size: bigint | number;
  /** TCE table levels, 1 to info().ddw.levels (default 1). */
  levels?: number;
}

export interface MapOptions {
  /** Offset into the buffer or region (default 0). */
  offset?: bigint | number;
  /** Bytes to map (default: from offset to the end). */
  size?: bigint | number;
  /** The device may read the memory (default true). */
  read?: boolean;
  /** The device may write the memory (default true). */
  write?: boolean;
}

/** One range of Container.mapMany: what map() takes, in one object. */
export interface MapManyEntry extends MapOptions {
  source: DmaBuffer | Region;
  iova: bigint;
}

export interface RegisterOptions {
  /** Offset into the buffer (default 0). */
  offset?: bigint | number;
  /** Bytes to register (default: from offset to the end). */
  size?: bigint | number;
}

/** How a long registration (the async forms) reports and stops. */
export interface AsyncRegisterOptions {
  /** Aborts between blocks: what was pinned is unpinned and the promise rejects with AbortError. */
  signal?: AbortSignal;
  /** Called after each block the kernel pinned, with the bytes done and the total. */
  onProgress?: (progress: { done: bigint; total: bigint }) => void;
}

export interface CallerOwnedMemoryOptions {
  /** The page size backing the memory (default: the system page size). */
  backingPageSize?: bigint | number;
}

/** What backs a bus address, as the library's books know it. */
export interface TranslationInfo {
  iova: bigint;
  window: Window;
  /** The mapping; null in a window a guest TCE table serves, where `guest` says what is there. */
  mapping: Mapping | null;
  /** Offset of the IOVA in the mapping (in its IOMMU page, for a guest TCE). */
  offset: bigint;
  /** The process virtual address the IOVA translates to. */
  address: bigint;
  region: Region | null;
  /** The guest's TCE and its table's LIOBN, in a window a guest TCE table serves; else null. */
  guest: { liobn: number; tce: bigint } | null;
}
