// An NVMe controller driven from user space through the library: the admin queues live in
// a DmaBuffer mapped for the device, the registers and doorbells in the mmap'd BAR0
// (little-endian, unlike edu), and one Identify Controller command reads the controller's
// model and serial number. This is the first thing an NVMe driver in a VMM or SPDK does.
//
//   node dist/examples/nvme-identify.js [BDF]   (default: the first NVMe controller on vfio-pci)
import { Container, DmaBuffer, Sysfs, type MmioRegion } from '../lib';

// Controller registers (NVMe 1.4, section 3.1)
const CAP = 0x00; // 64-bit: MQES 15:0, TO 31:24 (500 ms units), DSTRD 35:32
const CC = 0x14; // EN bit 0, IOSQES 19:16, IOCQES 23:20
const CSTS = 0x1c; // RDY bit 0, CFS bit 1
const AQA = 0x24; // admin queue sizes - 1: ACQS 27:16, ASQS 11:0
const ASQ = 0x28;
const ACQ = 0x30;
const DOORBELLS = 0x1000; // SQ0 tail, then CQ0 head, 4 << DSTRD bytes apart

const QUEUE_ENTRIES = 16;
const IOVA = 0x100000n; // in the default 32-bit window
// Layout of the one DmaBuffer: submission queue, completion queue, the Identify data page.
const SQ_OFFSET = 0;
const CQ_OFFSET = 4096;
const DATA_OFFSET = 8192;

export interface IdentifyResult {
  bdf: string;
  model: string;
  serial: string;
  firmware: string;
  vendorId: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls CSTS.RDY until it equals `ready`, within the controller's own timeout (CAP.TO). */
async function waitReady(bar: MmioRegion, ready: boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const csts = bar.read32(CSTS);
    if (csts & 2) throw new Error('controller fatal status (CSTS.CFS)');
    if (Boolean(csts & 1) === ready) return;
    if (Date.now() > deadline) throw new Error(`CSTS.RDY did not become ${Number(ready)}`);
    await sleep(1);
  }
}

function findNvme(bdf?: string): { bdf: string; group: number } {
  const devices = new Sysfs().listIommuGroups().flatMap((g) => g.devices);
  // PCI class 0x010802: mass storage, non-volatile memory, NVMe
  const found = devices.find((d) =>
    bdf ? d.bdf === bdf : d.class === '0x010802' && d.driver === 'vfio-pci',
  );
  if (!found || found.driver !== 'vfio-pci' || found.iommuGroup === null) {
    throw new Error(`no ${bdf ?? 'NVMe controller'} on vfio-pci (see vfio-spapr list)`);
  }
  return { bdf: found.bdf, group: found.iommuGroup };
}

export async function nvmeIdentify(
  log: (line: string) => void = console.log,
  bdf?: string,
): Promise<IdentifyResult> {
  const nvme = findNvme(bdf);
  const container = Container.open();
  const memory = DmaBuffer.allocate(65536); // one 64 KiB page on either kernel
  try {
    const group = container.addGroup(nvme.group);
    container.setIommu('v2');
    container.map(container.register(memory), IOVA);
    const device = group.openDevice(nvme.bdf);
    device.enableBusMaster();
    const bar = device.mapRegion(0, { endianness: 'little' });

    const cap = bar.read64(CAP);
    const stride = 4 << Number((cap >> 32n) & 0xfn);
    const timeoutMs = Number((cap >> 24n) & 0xffn) * 500;
    log(
      `${nvme.bdf}: CAP 0x${cap.toString(16)} (MQES ${Number(cap & 0xffffn) + 1}, doorbell stride ${stride}), VS 0x${bar.read32(0x08).toString(16)}`,
    );

    // 1. Disable, then point the controller at the admin queues (bus addresses).
    bar.write32(CC, 0);
    await waitReady(bar, false, timeoutMs);
    bar.write32(AQA, ((QUEUE_ENTRIES - 1) << 16) | (QUEUE_ENTRIES - 1));
    bar.write64(ASQ, IOVA + BigInt(SQ_OFFSET));
    bar.write64(ACQ, IOVA + BigInt(CQ_OFFSET));
    // 2. Enable: 64-byte submission entries (2^6), 16-byte completions (2^4), 4K pages.
    bar.write32(CC, 1 | (6 << 16) | (4 << 20));
    await waitReady(bar, true, timeoutMs);
    log('controller enabled with the admin queues in the DMA buffer');

    // 3. Identify Controller: opcode 0x06, CNS 1, the data page's bus address in PRP1.
    const view = new DataView(memory.buffer);
    const commandId = 1;
    view.setUint32(SQ_OFFSET + 0, 0x06 | (commandId << 16), true);
    view.setBigUint64(SQ_OFFSET + 24, IOVA + BigInt(DATA_OFFSET), true);
    view.setUint32(SQ_OFFSET + 40, 1, true);
    bar.write32(DOORBELLS, 1); // SQ0 tail: one entry
    // 4. The completion's phase bit flips from the zero-filled memory's 0 to 1.
    const deadline = Date.now() + 5000;
    while ((view.getUint32(CQ_OFFSET + 12, true) & 0x10000) === 0) {
      if (Date.now() > deadline) throw new Error('no completion for Identify');
      await sleep(1);
    }
    const dw3 = view.getUint32(CQ_OFFSET + 12, true);
    const status = (dw3 >>> 17) & 0x7fff;
    if ((dw3 & 0xffff) !== commandId || status !== 0) {
      throw new Error(`Identify completed with status 0x${status.toString(16)}`);
    }
    bar.write32(DOORBELLS + stride, 1); // CQ0 head: consumed one
    const text = (from: number, to: number) =>
      Buffer.from(memory.bytes().subarray(DATA_OFFSET + from, DATA_OFFSET + to))
        .toString('latin1')
        .trim();
    const result = {
      bdf: nvme.bdf,
      vendorId: view.getUint16(DATA_OFFSET, true),
      serial: text(4, 24),
      model: text(24, 64),
      firmware: text(64, 72),
    };
    log(
      `Identify Controller: model "${result.model}", serial "${result.serial}", firmware "${result.firmware}", PCI vendor 0x${result.vendorId.toString(16)}`,
    );

    // 5. Disable the controller before its queues go away.
    bar.write32(CC, 0);
    await waitReady(bar, false, timeoutMs);
    return result;
  } finally {
    container.close();
    memory.free();
  }
}

if (require.main === module) {
  nvmeIdentify(console.log, process.argv[2]).catch((error: unknown) => {
    console.error(`nvme-identify failed: ${(error as Error).message}`);
    process.exitCode = 1;
  });
}
