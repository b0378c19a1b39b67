// The guest's side of the contract, as PAPR (LoPAPR) defines it: the TCE format, and the
// page-size bits of ibm,query-pe-dma-window. The status codes are in lib/errors/guest.ts.

/** TCE permission bits (Linux's TCE_PCI_READ / TCE_PCI_WRITE): none set clears the entry. */
export const TCE_READ = 0x1n;
export const TCE_WRITE = 0x2n;

/** The most TCEs one H_PUT_TCE_INDIRECT list holds (one 4 KiB page of 8-byte entries). */
export const MAX_INDIRECT_TCES = 512;

/** ibm,query-pe-dma-window's page-size mask: bit per IOMMU page shift. */
export const DDW_PAGE_SIZE_BITS: ReadonlyMap<number, number> = new Map([
  [12, 0x01],
  [16, 0x02],
  [24, 0x04],
  [25, 0x08],
  [26, 0x10],
  [27, 0x20],
  [28, 0x40],
  [34, 0x80],
]);

/** The largest window ibm,query-pe-dma-window offers, in IOMMU pages (as QEMU answers). */
export const DDW_LARGEST_BLOCK_PAGES = 0x80000000n;

/** A guest TCE from its parts: the guest-physical page and the permissions. */
export function makeTce(gpa: bigint, permissions: { read?: boolean; write?: boolean }): bigint {
  return gpa | (permissions.read ? TCE_READ : 0n) | (permissions.write ? TCE_WRITE : 0n);
}
