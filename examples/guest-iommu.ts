// A VMM serving its pseries guest's IOMMU, the way QEMU's hw/vfio/spapr.c and spapr_iommu.c
// do, through the library's guest side: guest RAM registered once per slot, the guest's DMA
// windows answered from the host (ibm,query-pe-dma-window / create), and the guest's TCE
// hypercalls (H_PUT_TCE, H_PUT_TCE_INDIRECT, H_STUFF_TCE, H_GET_TCE) turned into TCE-table
// updates with no locked-memory charge. A passed-through device (QEMU's edu here) then DMAs
// into exactly the guest pages the guest's TCEs name.
//
//   node dist/examples/guest-iommu.js [BDF]   (an edu device with a 64-bit DMA mask)
import { Container, DmaBuffer, GuestIommu, H_SUCCESS, TCE_READ, TCE_WRITE } from '../lib';
import { Edu, findEduDevice } from '../lib/drivers';

const RAM = 16 << 20; // 16 MiB of guest RAM, in two slots
const COUNT = 4000;

export interface GuestIommuResult {
  /** The bus address of the guest's dynamic window, as the VMM tells the guest. */
  dynamicWindowStart: bigint;
  /** The page size of the dynamic window (64K on a 64K-page kernel, else 4K). */
  dynamicPageSize: bigint;
  /** The bytes the device wrote landed in the guest page the TCE named. */
  ok: boolean;
  /** VmLck did not move across the hypercalls. */
  lockedSteady: boolean;
}

export async function guestIommu(
  log: (line: string) => void = console.log,
  bdf?: string,
): Promise<GuestIommuResult> {
  const eduDevice = findEduDevice(undefined, bdf);
  const container = Container.open();
  // One slot is memory the VMM owns (a memfd it also maps elsewhere), one a library buffer.
  const low = DmaBuffer.allocate(RAM / 2, { backing: 'memfd' });
  const high = DmaBuffer.allocate(RAM / 2);
  try {
    const group = container.addGroup(eduDevice.group);
    container.setIommu('v2');
    const guest = GuestIommu.attach(container);

    // 1. Guest RAM, registered once per slot (the second on the thread pool, with progress).
    guest.memory.addSlot({ gpa: 0n, memory: { address: low.address, size: low.size } });
    await guest.memory.addSlotAsync({
      gpa: BigInt(RAM / 2),
      memory: high,
      onProgress: ({ done, total }) => log(`  registering the second slot: ${done}/${total}`),
    });
    log(`guest RAM: ${guest.memory.slots().length} slots, registered once`);

    // 2. The guest asks for a 64-bit window (ibm,query-pe-dma-window, then create).
    const query = guest.windows.query();
    const largest = query.pageSizes[query.pageSizes.length - 1];
    const pageShift = largest.toString(2).length - 1;
    const ddw = guest.windows.create({ pageShift, windowShift: 30 });
    log(
      `DDW: LIOBN 0x${ddw.liobn.toString(16)} at 0x${ddw.start.toString(16)}, ${ddw.pageSize}-byte pages`,
    );

    // 3. The guest's hypercalls. A guest page: GPA 2 pages in, readable and writable.
    const locked = container.memlock().locked;
    const page = ddw.pageSize;
    const gpa = 2n * page;
    let answer = guest.putTce(ddw.liobn, ddw.start, gpa | TCE_READ | TCE_WRITE);
    log(`H_PUT_TCE -> ${answer.status === H_SUCCESS ? 'H_SUCCESS' : answer.status}`);
    log(`H_GET_TCE -> 0x${guest.getTce(ddw.liobn, ddw.start).tce?.toString(16)}`);

    // 4. The device writes through the guest's TCE: the bytes land in that guest page.
    const device = group.openDevice(eduDevice.bdf);
    device.enableBusMaster();
    const edu = new Edu(device);
    const pattern = Uint8Array.from({ length: COUNT }, (_, i) => (i * 13 + 7) & 0xff);
    const host = new Uint8Array(low.buffer, Number(gpa), COUNT);
    host.set(pattern);
    await edu.toDevice(ddw.start, COUNT);
    host.fill(0);
    await edu.toRam(ddw.start, COUNT);
    const ok = host.every((b, i) => b === pattern[i]);
    log(`edu DMA through the guest TCE: ${ok ? 'bytes landed in the guest page' : 'MISMATCH'}`);

    // 5. The guest clears its entries (H_STUFF_TCE with no permission) and resets its windows.
    answer = guest.stuffTce(ddw.liobn, ddw.start, 0n, 1);
    const lockedSteady = container.memlock().locked === locked;
    log(`H_STUFF_TCE -> ${answer.status}; locked memory ${lockedSteady ? 'unchanged' : 'MOVED'}`);
    edu.close();
    guest.close();
    return { dynamicWindowStart: ddw.start, dynamicPageSize: page, ok, lockedSteady };
  } finally {
    container.close();
    low.free();
    high.free();
  }
}

if (require.main === module) {
  guestIommu(console.log, process.argv[2]).then(
    (r) => process.exit(r.ok && r.lockedSteady ? 0 : 1),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
