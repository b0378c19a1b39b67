// Guest RAM for a VMM: a memfd (which a VMM can also hand to other processes, e.g. a
// vhost-user backend) registered with the IOMMU once, then mapped into a dynamic 64-bit DMA
// window, the way QEMU's hw/vfio/spapr.c serves a pseries guest. A device DMAs into it, and
// the bytes are read back through the memfd itself.
//
// The window's IOMMU page can be no larger than the page backing the memory: a memfd is
// backed by system pages, so 64K IOMMU pages work on a 64K-page kernel, and on a 4K-page
// kernel the library refuses them (PageSizeError) before the kernel would say EINVAL; the
// example then uses 4K IOMMU pages.
//
//   node dist/examples/memfd-guest-ram.js [BDF]   (an edu device with a 64-bit DMA mask)
import * as fs from 'node:fs';
import { Container, DmaBuffer, PageSizeError } from '../lib';
import { Edu, findEduDevice } from '../lib/drivers';

const GUEST_RAM = 1 << 20; // 1 MiB of "guest RAM"
const WINDOW_SIZE = 1n << 30n; // the window a pseries guest would ask for, scaled down
const COUNT = 4000;

export interface MemfdResult {
  /** The IOMMU page size used. */
  iommuPageSize: bigint;
  /** The 64K attempt was refused with PageSizeError (memory backed by smaller pages). */
  refused64K: boolean;
  windowStart: bigint;
  /** The device's bytes were seen through the memfd. */
  ok: boolean;
}

export async function memfdGuestRam(
  log: (line: string) => void = console.log,
  bdf?: string,
): Promise<MemfdResult> {
  const edu = findEduDevice(undefined, bdf);
  const container = Container.open();
  const ram = DmaBuffer.allocate(GUEST_RAM, { backing: 'memfd' });
  try {
    const group = container.addGroup(edu.group);
    container.setIommu('v2');
    log(`guest RAM: ${ram.size} bytes in memfd ${ram.fd}, ${ram.backingPageSize}-byte pages`);

    // 1. Register (pin) all of guest RAM once: later maps and unmaps are cheap.
    const region = container.register(ram);
    log(`registered once at 0x${region.address.toString(16)}`);

    // 2. A dynamic window with 64K IOMMU pages if the backing allows, else 4K.
    let window = container.createWindow({ pageSize: 65536, size: WINDOW_SIZE });
    let refused64K = false;
    try {
      container.map(region, window.start);
    } catch (error) {
      if (!(error instanceof PageSizeError)) throw error;
      refused64K = true;
      log(`64K IOMMU pages refused: ${error.code}: ${error.message}`);
      window.remove();
      window = container.createWindow({ pageSize: 4096, size: WINDOW_SIZE });
      container.map(region, window.start);
    }
    log(
      `mapped guest RAM at IOVA 0x${window.start.toString(16)} (${window.pageSize}-byte IOMMU pages)`,
    );

    // 3. The device writes into guest RAM at a bus address in the dynamic window.
    const device = group.openDevice(edu.bdf);
    device.enableBusMaster();
    const dev = new Edu(device);
    const bytes = ram.bytes();
    for (let i = 0; i < COUNT; i += 1) bytes[i] = (i * 13 + 5) & 0xff;
    const back = 0x40000;
    await dev.toDevice(window.start, COUNT);
    await dev.toRam(window.start + BigInt(back), COUNT);

    // 4. Whoever holds the memfd sees what the device wrote.
    const seen = Buffer.alloc(COUNT);
    fs.readSync(ram.fd, seen, 0, COUNT, back);
    const ok = seen.equals(Buffer.from(bytes.subarray(0, COUNT)));
    log(
      `read back through the memfd at offset 0x${back.toString(16)}: ${ok ? 'identical' : 'MISMATCH'}`,
    );
    return { iommuPageSize: window.pageSize, refused64K, windowStart: window.start, ok };
  } finally {
    container.close(); // unmaps, removes the window, unregisters: the kernel unpins
    ram.free();
  }
}

if (require.main === module) {
  memfdGuestRam(console.log, process.argv[2]).then(
    (r) => {
      process.exitCode = r.ok ? 0 : 1;
    },
    (error: unknown) => {
      console.error(`memfd-guest-ram failed: ${(error as Error).message}`);
      process.exitCode = 1;
    },
  );
}
