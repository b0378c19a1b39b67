// What the SPAPR TCE IOMMU of Linux (powernv, IODA2) defines, in one place: the library,
// the conformance rows and the fake kernel of the unit tests take these numbers from here
// (what they cost in locked memory is lib/memlock.ts's). Each names its row of
// docs/kernel.md, where the VM test that re-measures it is named.

/**
 * The default 32-bit DMA window (`info.dma32-window`): 2 GiB at bus address 0 in 4 KiB IOMMU
 * pages and one table level, created by the kernel itself (lazily, at the first map, unmap or
 * window call: `map.lazy-default-window`).
 */
export const DEFAULT_WINDOW = {
  start: 0n,
  size: 0x80000000n,
  pageShift: 12,
  levels: 1,
} as const;

/** Windows a container may have at once, the default one included (`info.max-windows`). */
export const MAX_WINDOWS = 2;

/** POWERNV_IOMMU_MAX_LEVELS: the deepest TCE table (`info.levels`). */
export const MAX_TABLE_LEVELS = 5;

/** Where the kernel places the dynamic window beside the default one (`window.create`). */
export const DYNAMIC_WINDOW_START = 0x0800000000000000n;

/**
 * The IOMMU page sizes a PHB offers (`info.page-sizes`), as the bit mask GET_INFO reports,
 * by POWER generation: PHB3 (POWER8) 4K, 64K, 16M, 256M; PHB4 (POWER9) 4K, 64K, 2M, 1G.
 */
export const DDW_PAGE_SIZE_MASKS: Readonly<Record<8 | 9, bigint>> = {
  8: 0x11011000n,
  9: 0x40211000n,
};
