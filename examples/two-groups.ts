// Two IOMMU groups in one container: on IODA2 (POWER8/9) the SPAPR TCE v2 container takes
// several groups, and one registration and one mapping serve the devices of all of them,
// the way a VMM gives one guest several passthrough devices. (Pre-IODA2 hosts allow one
// group per container: addGroup then throws GroupLimitError.)
//
//   node dist/examples/two-groups.js BDF BDF    (default: the first two edu devices on vfio-pci)
import { Container, DmaBuffer, Sysfs } from '../lib';
import { Edu, EDU_DEVICE, EDU_VENDOR } from '../lib/drivers';

const IOVA = 0x400000n;
const COUNT = 2000;

export async function twoGroups(
  log: (line: string) => void = console.log,
  bdfs?: [string, string],
): Promise<boolean> {
  const sysfs = new Sysfs();
  const devices = bdfs
    ? bdfs.map((bdf) => sysfs.deviceInfo(bdf))
    : sysfs
        .listIommuGroups()
        .flatMap((g) => g.devices)
        .filter(
          (d) => d.vendor === EDU_VENDOR && d.device === EDU_DEVICE && d.driver === 'vfio-pci',
        )
        .slice(0, 2);
  if (devices.length < 2 || devices[0].iommuGroup === devices[1].iommuGroup) {
    throw new Error('two edu devices on vfio-pci in two IOMMU groups are needed');
  }
  const container = Container.open();
  const buffer = DmaBuffer.allocate(65536);
  try {
    // Both groups join before the IOMMU type is chosen; then one v2 setup serves both.
    const groups = devices.map((d) => container.addGroup(d.iommuGroup as number));
    container.setIommu('v2');
    log(`one container, groups ${groups.map((g) => g.number).join(' and ')}`);
    container.map(container.register(buffer), IOVA);
    log(`one registration, one mapping at IOVA 0x${IOVA.toString(16)}`);

    // Each device copies its own slice of the buffer to another slice, through the same
    // IOVA range: both see the same translation.
    const bytes = buffer.bytes();
    let ok = true;
    for (const [i, d] of devices.entries()) {
      const device = groups[i].openDevice(d.bdf);
      device.enableBusMaster();
      const edu = new Edu(device);
      const from = i * 16384;
      const to = from + 8192;
      for (let j = 0; j < COUNT; j += 1) bytes[from + j] = (j + 17 * (i + 1)) & 0xff;
      await edu.toDevice(IOVA + BigInt(from), COUNT);
      await edu.toRam(IOVA + BigInt(to), COUNT);
      const same = bytes.subarray(to, to + COUNT).every((b, j) => b === bytes[from + j]);
      log(`${d.bdf} (group ${groups[i].number}): ${same ? 'round trip identical' : 'MISMATCH'}`);
      ok &&= same;
    }
    return ok;
  } finally {
    container.close();
    buffer.free();
  }
}

if (require.main === module) {
  const args = process.argv.slice(2);
  twoGroups(console.log, args.length === 2 ? [args[0], args[1]] : undefined).then(
    (ok) => {
      process.exitCode = ok ? 0 : 1;
    },
    (error: unknown) => {
      console.error(`two-groups failed: ${(error as Error).message}`);
      process.exitCode = 1;
    },
  );
}
