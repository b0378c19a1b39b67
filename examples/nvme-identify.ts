// An NVMe controller driven from user space through the library: the NVMe driver of
// `vfio-spapr/drivers` keeps its admin queue and data page in a DmaArena mapped in the
// default window, brings the controller up, and asks it who it is (Identify Controller and
// Namespace). This is the first thing an NVMe driver in a VMM or SPDK does.
//
//   node dist/examples/nvme-identify.js [BDF]   (default: the first NVMe controller on vfio-pci)
import { Container } from '../lib';
import { DmaArena, NvmeController, findNvmeController } from '../lib/drivers';

const IOVA = 0x100000n; // in the default 32-bit window
const ARENA_BYTES = 65536; // admin queues and the Identify page; one 64 KiB page on either kernel

export interface IdentifyResult {
  bdf: string;
  model: string;
  serial: string;
  firmware: string;
  vendorId: number;
  /** Namespace 1: logical blocks and their size. */
  blocks: bigint;
  blockSize: number;
}

export async function nvmeIdentify(
  log: (line: string) => void = console.log,
  bdf?: string,
): Promise<IdentifyResult> {
  const nvme = findNvmeController(undefined, bdf);
  const container = Container.open();
  try {
    const group = container.addGroup(nvme.group);
    container.setIommu('v2');
    const memory = DmaArena.map(container, IOVA, ARENA_BYTES);
    const controller = NvmeController.open(group.openDevice(nvme.bdf), memory);
    log(
      `${nvme.bdf}: CAP 0x${controller.cap.toString(16)} (MQES ${controller.maxQueueEntries}, ` +
        `doorbell stride ${controller.doorbellStride}), VS 0x${controller.version.toString(16)}`,
    );
    try {
      await controller.enable();
      log('controller enabled with the admin queues in the DMA arena');
      const id = await controller.identifyController();
      log(
        `Identify Controller: model "${id.model}", serial "${id.serial}", firmware "${id.firmware}", PCI vendor 0x${id.vendorId.toString(16)}`,
      );
      const ns = await controller.identifyNamespace(1);
      log(`Identify Namespace 1: ${ns.blocks} blocks of ${ns.blockSize} bytes`);
      return {
        bdf: nvme.bdf,
        model: id.model,
        serial: id.serial,
        firmware: id.firmware,
        vendorId: id.vendorId,
        blocks: ns.blocks,
        blockSize: ns.blockSize,
      };
    } finally {
      // Disabled before its queues go away.
      await controller.close();
      memory.close();
    }
  } finally {
    container.close();
  }
}

if (require.main === module) {
  nvmeIdentify(console.log, process.argv[2]).catch((error: unknown) => {
    console.error(`nvme-identify failed: ${(error as Error).message}`);
    process.exitCode = 1;
  });
}
