// The NVMe driver (vfio-spapr/drivers) against QEMU's NVMe controller through the real
// kernel: I/O queue pairs, polled and interrupt-driven, and READs whose bytes are known: the
// rig's nvme.img carries a tag in LBA 0 (scripts/rig/prepare.sh) and zeros after it, and
// each VM run gets a pristine copy. Nothing here writes to the media.
import { strict as assert } from 'node:assert';
import { Container, PCI_IRQ_INDEX, type Device, type DeviceInterrupts } from '../../lib';
import {
  DmaArena,
  NvmeController,
  type NvmeNamespaceIdentity,
  type NvmeQueuePair,
} from '../../lib/drivers';
import { guest } from './guest';

const TAG = 'vfio-spapr nvme test image\n';
const IOVA = 0x200000n;

describe('NVMe driver (real kernel, emulated controller)', function () {
  let container: Container;
  let memory: DmaArena;
  let device: Device;
  let controller: NvmeController;
  let namespace: NvmeNamespaceIdentity;

  before(async function () {
    const nvme = guest().nvme[0];
    container = Container.open();
    const group = container.addGroup(nvme.group);
    container.setIommu('v2');
    memory = DmaArena.map(container, IOVA, 256 * 1024);
    device = group.openDevice(nvme.bdf);
    controller = NvmeController.open(device, memory);
    await controller.enable();
    await controller.identifyController();
    namespace = await controller.identifyNamespace(1);
  });

  after(async function () {
    await controller?.close();
    memory?.close();
    container?.close();
  });

  /** A READ of `blocks` from LBA 0 into a buffer first filled with 0xa5. */
  async function readStart(queue: NvmeQueuePair, blocks: number) {
    const data = memory.take(blocks * namespace.blockSize);
    data.bytes.fill(0xa5);
    await queue.read(namespace, 0n, blocks, data.iova);
    return data.bytes;
  }

  function assertImageStart(bytes: Uint8Array) {
    assert.equal(Buffer.from(bytes.subarray(0, TAG.length)).toString('latin1'), TAG);
    const rest = bytes.subarray(TAG.length);
    assert.equal(
      rest.findIndex((b) => b !== 0),
      -1,
      'every byte after the tag came from the disk',
    );
  }

  it('namespace 1 of the 64 MiB image, in 512-byte blocks', function () {
    assert.equal(namespace.blockSize, 512);
    assert.equal(namespace.blocks * BigInt(namespace.blockSize), 64n << 20n);
  });

  it('device.nvme-queues: a polled queue pair READs LBA 0 (PRP1), two pages (PRP2) and five pages (a PRP list)', async function () {
    const queue = await controller.createIoQueuePair({ id: 1, entries: 8 });
    try {
      for (const bytes of [512, 8192, 20480]) {
        assertImageStart(await readStart(queue, bytes / namespace.blockSize));
      }
      // Several in flight at once, completions matched by command ID.
      const reads = await Promise.all([1, 2, 3].map(() => readStart(queue, 1)));
      for (const bytes of reads) assertImageStart(bytes);
    } finally {
      await controller.deleteIoQueuePair(queue);
    }
  });

  it('device.nvme-queues: a queue pair with an MSI-X vector (IEN) completes through the interrupt', async function () {
    // MSI-X first: the controller refuses a vector other than 0 while MSI-X is off.
    const interrupts: DeviceInterrupts = device.enableInterrupts(PCI_IRQ_INDEX.msix, { count: 2 });
    let queue: NvmeQueuePair | null = null;
    let fired = 0;
    try {
      queue = await controller.createIoQueuePair({ id: 2, interruptVector: 1 });
      assert.equal(queue.interruptVector, 1);
      const q = queue;
      interrupts.on('interrupt', (vector) => {
        if (vector !== 1) return;
        fired += 1;
        q.processCompletions();
      });
      assertImageStart(await readStart(queue, 1));
      assert.ok(fired >= 1, 'the completion arrived by interrupt on vector 1');
    } finally {
      if (queue) await controller.deleteIoQueuePair(queue);
      interrupts.disable();
    }
  });
});
