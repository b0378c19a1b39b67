// The device side a VMM wires, on the real kernel with QEMU's NVMe controller (one bring-up for
// the file): MSI-X vectors routed to eventfds the test holds and reads itself, one I/O queue
// pair per vector; a subset of vectors enabled, then changed; BAR0 through the device fd
// against the mmap, a write through the fd, refusals with nothing written; the ERR index as
// typed events; reset() and the hot reset, each followed by a fresh bring-up.
import { strict as assert } from 'node:assert';
import {
  Container,
  EventFd,
  Group,
  HotResetGroupsError,
  InterruptResizeError,
  PCI_IRQ_INDEX,
  RegionBoundsError,
  RegisterWidthError,
  VfioError,
  type Device,
  type MmioRegion,
  type RegionIo,
} from '../../lib';
import { nativeBinding } from '../../lib/binding';
import {
  DmaArena,
  NvmeController,
  type NvmeNamespaceIdentity,
  type NvmeQueuePair,
} from '../../lib/drivers';
import { guest } from './guest';
import { nextCount, sleep } from './waits';

const IOVA = 0x200000n;
const TAG = 'vfio-spapr nvme test image\n';
// NVMe registers (little-endian)
const CAP = 0x00;
const CC = 0x14;
const CSTS = 0x1c;
const AQA = 0x24;
const ASQ = 0x28;
const MSIX_TABLE = 0x2000; // where QEMU's nvme puts it in BAR0 (the config space says so too)

describe('device: interrupts, regions and resets (real kernel, NVMe)', function () {
  let container: Container;
  let memory: DmaArena;
  let device: Device;
  let controller: NvmeController;
  let namespace: NvmeNamespaceIdentity;
  let bar: MmioRegion;
  let io: RegionIo;

  async function bringUp(): Promise<void> {
    await controller.enable();
    namespace = await controller.identifyNamespace(1);
  }

  before(async function () {
    const nvme = guest().nvme[0];
    container = Container.open();
    const group = container.addGroup(nvme.group);
    container.setIommu('v2');
    memory = DmaArena.map(container, IOVA, 512 * 1024);
    device = group.openDevice(nvme.bdf);
    controller = NvmeController.open(device, memory);
    bar = controller.bar;
    io = device.regionIo(0);
    await bringUp();
  });

  after(async function () {
    await controller?.close();
    memory?.close();
    container?.close();
  });

  /** A READ of LBA 0 on `queue`, its completion taken when `signalled` says the interrupt came. */
  async function read(queue: NvmeQueuePair, signalled: () => Promise<unknown>) {
    const data = memory.take(namespace.blockSize);
    data.bytes.fill(0xa5);
    const done = queue.read(namespace, 0n, 1, data.iova);
    await signalled();
    queue.processCompletions();
    await done;
    assert.equal(Buffer.from(data.bytes.subarray(0, TAG.length)).toString('latin1'), TAG);
  }

  it('MSI-X: one I/O queue pair per vector, each completion on its own eventfd; a subset enabled, then changed', async function () {
    const info = device.irqInfo(PCI_IRQ_INDEX.msix);
    assert.ok(info.count >= 3, `NVMe offers ${info.count} MSI-X vectors`);
    // Vectors 1 and 2 only (the admin queue, vector 0, is polled): eventfds the test holds.
    const [e1, e2, other] = [1, 2, 3].map(() => EventFd.create());
    const queues: NvmeQueuePair[] = [];
    try {
      device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [e1, e2], { start: 1 });
      for (const id of [1, 2]) {
        queues.push(await controller.createIoQueuePair({ id, interruptVector: id, poll: false }));
      }
      const [q1, q2] = queues;
      await read(q1, () => nextCount(e1, 'vector 1'));
      assert.equal(e2.read(), 0n, 'vector 2 silent for queue 1');
      await read(q2, () => nextCount(e2, 'vector 2'));
      assert.equal(e1.read(), 0n, 'vector 1 silent for queue 2');

      // Changed: vector 2 to another eventfd (a plain fd number), vector 1 de-assigned.
      device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [null, other.fd], { start: 1 });
      assert.deepEqual([...device.interruptTriggers(PCI_IRQ_INDEX.msix)], [[2, other.fd]]);
      await read(q2, () => nextCount(other, 'vector 2, moved'));
      assert.equal(e2.read(), 0n, 'the old eventfd of vector 2 stays silent');
      await read(q1, () => sleep(100)); // vector 1 has no eventfd: the completion is found by reading
      assert.equal(e1.read() + e2.read() + other.read(), 0n, 'no eventfd counted vector 1');
      // Vectors beyond those enabled: MSI-X here cannot grow while on (NORESIZE).
      assert.equal(info.noresize, true);
      assert.throws(
        () => device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [e1], { start: 3 }),
        InterruptResizeError,
      );
    } finally {
      for (const q of queues) await controller.deleteIoQueuePair(q);
      device.disableInterrupts(PCI_IRQ_INDEX.msix);
      for (const e of [e1, e2, other]) e.close();
    }
  });

  it('the ERR index (PCIe) arrives as typed events: the kernel loopback', async function () {
    assert.equal(device.irqInfo(PCI_IRQ_INDEX.err).count, 1);
    const events: unknown[] = [];
    const route = device.onError((event) => events.push(event));
    try {
      device.triggerInterrupt(PCI_IRQ_INDEX.err);
      for (let i = 0; i < 1000 && events.length === 0; i += 1) await sleep(2);
      assert.deepEqual(events, [{ kind: 'error', device: device.name, count: 1n }]);
    } finally {
      route.disable();
    }
  });

  it('BAR0 through the device fd reads what the mmap shows (the MSI-X table aside), and a write through the fd lands', async function () {
    const layout = device.msixLayout();
    assert.deepEqual(layout?.table, { bar: 0, offset: BigInt(MSIX_TABLE), size: BigInt(65 * 16) });
    assert.deepEqual(
      device.trappedAreas(0).map((a) => a.reason),
      ['msix-table', 'msix-pba'],
    );
    assert.equal(io.read64(CAP), bar.read64(CAP));
    assert.equal(io.read64(CAP), 0x004018200f0107ffn);
    const mismatches: number[] = [];
    for (let offset = 0; offset < 0x1000; offset += 4) {
      if (io.read32(offset) !== bar.read32(offset)) mismatches.push(offset);
    }
    assert.deepEqual(mismatches, [], 'controller registers equal through both paths');
    // The kernel traps the MSI-X table from the fd: reads there give all ones.
    assert.equal(io.read32(MSIX_TABLE), 0xffffffff);
    assert.notEqual(bar.read32(MSIX_TABLE), 0xffffffff, 'the mmap sees the real entry');

    await controller.disable(); // ASQ is the controller's to change only while disabled
    io.write64(ASQ, 0x123000n);
    assert.equal(bar.read64(ASQ), 0x123000n);
    io.write32(AQA, 0x000f000f);
    assert.equal(bar.read32(AQA), 0x000f000f);
    await bringUp();
  });

  it('out-of-bounds and wrong-width accesses are typed, and nothing is written', function () {
    const aqa = bar.read32(AQA);
    const size = Number(device.region(0).size);
    assert.throws(() => io.write32(size, 0), RegionBoundsError);
    assert.throws(() => io.write64(size - 4, 0n), RegisterWidthError);
    assert.throws(() => io.write64(size, 0n), RegionBoundsError);
    assert.throws(() => io.writeBytes(size - 2, new Uint8Array(4)), RegionBoundsError);
    assert.throws(() => io.write32(AQA + 2, 0), RegisterWidthError);
    assert.throws(() => io.write(AQA, 24 as never, 0), RegisterWidthError);
    assert.equal(bar.read32(AQA), aqa, 'AQA unchanged');
    // The kernel itself: EINVAL at the end of the region, a short read across it.
    const raw = nativeBinding();
    const region = device.region(0);
    assert.throws(() => raw.pwrite(device.fd, new Uint8Array(4), region.offset + region.size), {
      code: 'EINVAL',
    });
    assert.equal(raw.pread(device.fd, new Uint8Array(8), region.offset + region.size - 4n), 4);
  });

  it('reset() brings the controller back to not ready (CSTS.RDY 0), and a fresh bring-up works', async function () {
    assert.equal(device.info().resettable, true);
    assert.equal(bar.read32(CSTS) & 1, 1, 'ready before');
    device.reset();
    assert.equal(bar.read32(CSTS) & 1, 0, 'not ready after the reset');
    assert.equal(bar.read32(CC), 0, 'CC back to 0');
    await bringUp();
    assert.equal(bar.read32(CSTS) & 1, 1);
    assert.equal(namespace.blockSize, 512);
  });

  it('hot reset: the info lists the group; refused (typed) without it; with it, what the emulated bus does', async function () {
    const nvme = guest().nvme[0];
    const info = device.hotResetInfo();
    assert.ok(info.groups.includes(nvme.group), `groups ${info.groups}`);
    assert.ok(info.devices.some((d) => d.bdf === nvme.bdf && d.group === nvme.group));
    console.log(`      hot reset of ${nvme.bdf} touches ${JSON.stringify(info.devices)}`);
    const other = Group.open(guest().edu[0].group);
    try {
      assert.throws(
        () => device.hotReset([other]),
        (error: unknown) => {
          assert.ok(error instanceof HotResetGroupsError);
          assert.deepEqual(error.missing, [nvme.group]);
          assert.deepEqual(error.held, [guest().edu[0].group]);
          return true;
        },
      );
      // The kernel itself, without the group: EINVAL.
      const raw = nativeBinding();
      assert.throws(() => raw.devicePciHotReset(device.fd, [other.fd]), { code: 'EINVAL' });
    } finally {
      other.close();
    }
    // With the group held (the device's own, by default).
    let outcome: string;
    try {
      device.hotReset();
      outcome = 'reset';
      assert.equal(bar.read32(CSTS) & 1, 0, 'not ready after the hot reset');
    } catch (error) {
      assert.ok(error instanceof VfioError, String(error));
      outcome = `${error.code}: ${error.message}`;
    }
    console.log(`      hot reset with group ${nvme.group} held: ${outcome}`);
    assert.equal(outcome, 'reset', 'the emulated root port resets its bus');
    await bringUp();
  });
});
