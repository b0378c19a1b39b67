// The guest side of a v2 container: a VMM's guest RAM, DMA windows and TCE hypercalls.
export { GuestIommu, type GuestIommuOptions, type HcallResult } from './guest-iommu';
export { GuestMemory, GuestSlot, type SlotMemory, type SlotOptions } from './guest-memory';
export { GuestWindows, type DdwQuery } from './guest-windows';
export { GuestTceTable } from './tce-table';
export { DDW_PAGE_SIZE_BITS, MAX_INDIRECT_TCES, TCE_READ, TCE_WRITE, makeTce } from './papr';
