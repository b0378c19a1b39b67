// What the guest kernel logs on purpose during the VM suite: every record the kernel-log
// check (test/support/kernel-log.ts) would call an alarm that the suite provokes knowingly,
// with the test that provokes it and why. Anything else of the kind fails the run. Found by
// running the whole VM suite on all four configurations and reading the kernel log
// (docs/kernel-log.md). An entry holds only where it says: the same line elsewhere fails.
import type { AllowedEntry } from '../support/kernel-log';

/** The kernel table's rows run as `vfio-spapr conformance`, as root and as uid 65534. */
const CONFORMANCE = { file: 'test/vm/conformance.test.ts', test: 'exit 0' };

export const KERNEL_LOG_ALLOWLIST: readonly AllowedEntry[] = [
  {
    pattern:
      /^nvram: (Failed to find or create lnx,oops-log partition|Failed to initialize oops partition)/,
    provokedBy: 'boot',
    why:
      "QEMU's powernv firmware gives the kernel an NVRAM too small for the partition where it " +
      'would keep oops logs (err -28, ENOSPC); nothing of the suite has run yet.',
  },
  {
    pattern: /^SED: plpks not available$/,
    provokedBy: 'boot',
    why:
      'The emulated machine has no PowerVM platform keystore for self-encrypting drives; ' +
      'nothing of the suite has run yet.',
  },
  {
    pattern: /WARNING: .* at mm\/vmalloc\.c:\d+ __vmalloc_node_range/,
    provokedBy: CONFORMANCE,
    why:
      'REGISTER_MEMORY of size 0 (the row reg.size-zero) reaches vzalloc(0) in ' +
      "mm_iommu_do_alloc, which WARNs once per boot before the kernel's ENOMEM. The library " +
      'refuses size 0 before the ioctl.',
  },
  {
    pattern: /WARNING: .* at arch\/powerpc\/mm\/book3s64\/mmu_context\.c:\d+ destroy_context/,
    provokedBy: CONFORMANCE,
    why:
      "An unregister while pages are mapped returns 0 and leaves the pin in the process's mm " +
      '(a row of the kernel table, measured in a child). When that child exits, destroy_context ' +
      "finds the mm's list of registrations not empty and WARNs (once per boot). The library " +
      'refuses such an unregister (RegionInUseError).',
  },
  {
    pattern: /^Failed to allocate a TCE memory, level shift=\d+$/,
    provokedBy: CONFORMANCE,
    why:
      'The row that measures a TCE table level larger than the largest block the page ' +
      'allocator gives: pnv_alloc_tce_level fails and says so. The library refuses such ' +
      'geometries (TceTableAllocationError).',
  },
];
