// The DMA round trip a VMM makes, step by step: open the container, attach the group,
// choose the v2 IOMMU, read the windows, allocate and register memory (locked memory before
// and after), map it, enable bus mastering, let QEMU's edu device copy RAM -> device -> RAM,
// verify the bytes, and tear everything down with locked memory back where it started.
//
//   node dist/examples/dma-round-trip.js [BDF]     (default: the first edu device on vfio-pci)
import { Container, DmaBuffer, Sysfs, VfioError, nativeBinding } from '../lib';
import { Edu } from './edu';

const IOVA = 0x100000n;
const COUNT = 4000;

function kib(bytes: bigint): string {
  return `${bytes / 1024n} KiB`;
}

/** Finds an edu device (1234:11e8) bound to vfio-pci. */
function findEdu(bdf?: string): { bdf: string; group: number } {
  const sysfs = new Sysfs();
  for (const group of sysfs.listIommuGroups()) {
    for (const d of group.devices) {
      const wanted = bdf ? d.bdf === bdf : d.vendor === '1234' && d.device === '11e8';
      if (wanted && d.driver === 'vfio-pci') return { bdf: d.bdf, group: group.group };
    }
  }
  throw new Error(`no ${bdf ?? 'edu device'} bound to vfio-pci (see vfio-spapr list)`);
}

/** Runs the round trip, printing each step through `log`; resolves true when the bytes match. */
export async function dmaRoundTrip(
  log: (line: string) => void = console.log,
  bdf?: string,
): Promise<boolean> {
  const locked = () => nativeBinding().vmLockedBytes();
  const edu = findEdu(bdf);
  const start = locked();
  log(`locked memory at start: ${kib(start)} (VmLck)`);

  const container = Container.open();
  const ext = container.extensions();
  log(
    `1. opened /dev/vfio/vfio: API ${container.apiVersion}, SPAPR v1 ${ext.spaprV1}, v2 ${ext.spaprV2}, EEH ${ext.eeh}`,
  );
  const buffer = DmaBuffer.allocate(65536);
  try {
    const group = container.addGroup(edu.group);
    log(`2. attached IOMMU group ${group.number} (viable) holding ${edu.bdf}`);
    container.setIommu('v2');
    const info = container.info();
    log(
      `3. SPAPR TCE v2: dma32 window ${info.dma32.size >> 20n} MiB at 0x${info.dma32.start.toString(16)}; ` +
        (info.ddw
          ? `dynamic windows: ${info.ddw.maxWindows} max, ${info.ddw.levels} levels, pages ${info.ddw.pageSizes.map((p) => kib(p)).join(' ')}`
          : 'no dynamic windows'),
    );
    log(`4. allocated a ${buffer.size}-byte DMA buffer at 0x${buffer.address.toString(16)}`);
    const region = container.register(buffer);
    log(`5. registered it (pinned): locked ${kib(start)} -> ${kib(locked())}`);
    const mapping = container.map(region, IOVA);
    log(
      `6. mapped it at IOVA 0x${IOVA.toString(16)}; the default window's TCE table was created: ` +
        `locked now ${kib(locked())}`,
    );
    const device = group.openDevice(edu.bdf);
    device.enableBusMaster();
    const dev = new Edu(device);
    log(
      `7. opened ${edu.bdf}, bus master on; edu ID 0x${dev.id().toString(16)}, liveness ok: ${dev.liveness(0x1234) === ~0x1234 >>> 0}`,
    );

    const bytes = buffer.bytes();
    for (let i = 0; i < COUNT; i += 1) bytes[i] = (i * 31 + 7) & 0xff;
    bytes.fill(0, 8192, 8192 + COUNT);
    await dev.toDevice(IOVA, COUNT);
    log(`8. DMA RAM -> device: ${COUNT} bytes from IOVA 0x${IOVA.toString(16)}`);
    await dev.toRam(IOVA + 8192n, COUNT);
    log(`9. DMA device -> RAM: ${COUNT} bytes to IOVA 0x${(IOVA + 8192n).toString(16)}`);
    const same = bytes.subarray(0, COUNT).every((b, i) => b === bytes[8192 + i]);
    log(`10. verified: ${same ? 'the bytes came back identical' : 'MISMATCH'}`);

    mapping.unmap();
    region.unregister();
    container.close();
    buffer.free();
    log(`11. unmapped, unregistered, closed: locked ${kib(locked())} (start ${kib(start)})`);
    return same && locked() === start;
  } finally {
    container.close();
    if (!buffer.freed) buffer.free();
  }
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
