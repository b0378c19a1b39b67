// The DMA round trip a VMM makes, step by step: open the container, attach the group,
// choose the v2 IOMMU, read the windows, allocate and register memory (locked memory before
// and after), map it, enable bus mastering, let QEMU's edu device copy RAM -> device -> RAM,
// verify the bytes, and tear everything down with locked memory back where it started.
// The steps themselves are in lib/edu-round-trip.ts (read it: it is the code to copy), which
// `vfio-spapr selftest` runs too; this program prints them.
//
//   node dist/examples/dma-round-trip.js [BDF]     (default: the first edu device on vfio-pci)
import { VfioError } from '../lib';
import { eduDmaRoundTrip } from '../lib/drivers';

/** Runs the round trip, printing each step through `log`; resolves true when the bytes match. */
export async function dmaRoundTrip(
  log: (line: string) => void = console.log,
  bdf?: string,
): Promise<boolean> {
  return (await eduDmaRoundTrip(bdf, { log })).ok;
}

if (require.main === module) {
  dmaRoundTrip(console.log, process.argv[2]).then(
    (ok) => {
      console.log(ok ? 'DMA round trip: OK' : 'DMA round trip: FAILED');
      process.exitCode = ok ? 0 : 1;
    },
    (error: unknown) => {
      const code = error instanceof VfioError ? ` [${error.code}]` : '';
      console.error(`DMA round trip failed${code}: ${(error as Error).message}`);
      process.exitCode = 1;
    },
  );
}
