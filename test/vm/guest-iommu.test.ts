// The guest IOMMU on the real kernel, driven as a pseries guest's driver would drive it: 64 MiB
// of guest RAM in two slots (a memfd the VMM owns, a library buffer), the guest's default
// window and a dynamic window at the page size the host offers, seeded random hypercalls
// (put, indirect put, stuff, replace, clear) checked after every step against a model of the
// guest's table, and edu DMA through a sample of live entries landing in exactly the guest
// pages they name. A third slot is hot-plugged mid-run and removed once its entries are clear;
// NVMe Identify and a READ run through guest TCEs; locked memory is predicted throughout.
import { strict as assert } from 'node:assert';
import {
  Container,
  DmaBuffer,
  GuestIommu,
  GuestTceRefusedError,
  GuestWindowRefusedError,
  RTAS_PARAMETER_ERROR,
  SlotInUseError,
  TCE_READ,
  TCE_WRITE,
  type GuestSlot,
  type GuestTceTable,
} from '../../lib';
import { nativeBinding } from '../../lib/binding';
import { DmaArena, Edu, NvmeController } from '../../lib/drivers';
import { Random } from '../fuzz/random';
import { guest, vmLocked } from './guest';

const MiB = 1n << 20n;
const RW = TCE_READ | TCE_WRITE;
const SEED = Number(process.env.VFIO_GUEST_SEED ?? Date.now() % 2 ** 31);
const STEPS = 240;
const COUNT = 1024; // bytes per edu transfer: inside the smallest IOMMU page
/** The guest's TCE lists live in the first slot's last page. */
const LIST_GPA = 32n * MiB - 4096n;

/** The guest's table as the guest believes it: IOBA -> TCE, live entries only. */
type Model = Map<bigint, bigint>;

describe(`guest IOMMU on the real kernel (seed ${SEED}; VFIO_GUEST_SEED=${SEED} replays)`, function () {
  const page = BigInt(nativeBinding().pageSize());
  let container: Container;
  let gi: GuestIommu;
  let memfd: DmaBuffer;
  let buffer: DmaBuffer;
  let edu: Edu;
  let lockedAtStart: bigint;

  before(function () {
    lockedAtStart = vmLocked();
    const [eduDevice] = guest().edu;
    container = Container.open();
    const group = container.addGroup(eduDevice.group);
    container.addGroup(guest().nvme[0].group);
    container.setIommu('v2');
    gi = GuestIommu.attach(container);
    memfd = DmaBuffer.allocate(Number(32n * MiB), { backing: 'memfd' });
    buffer = DmaBuffer.allocate(Number(32n * MiB));
    const device = group.openDevice(eduDevice.bdf);
    device.enableBusMaster();
    edu = new Edu(device);
  });

  after(function () {
    edu?.close();
    container?.close();
    memfd?.free();
    buffer?.free();
    assert.equal(vmLocked(), lockedAtStart, 'locked memory back where it started');
  });

  /** The buffer behind each slot's guest-physical start. */
  const backing = new Map<bigint, DmaBuffer>();

  /** The host bytes of a guest-physical address, through the slot that holds it. */
  function hostBytes(gpa: bigint, length: number): Uint8Array {
    const slot = gi.memory.slots().find((s) => gpa >= s.gpa && gpa < s.gpa + s.size);
    assert.ok(slot, `GPA 0x${gpa.toString(16)} is in a slot`);
    const memory = backing.get(slot.gpa) as DmaBuffer;
    assert.equal(gi.memory.translate(gpa), memory.address + (gpa - slot.gpa));
    return new Uint8Array(memory.buffer, Number(gpa - slot.gpa), length);
  }

  function predictedLocked(tables: readonly GuestTceTable[], defaultMade: boolean): bigint {
    let bytes = lockedAtStart;
    for (const slot of gi.memory.slots()) bytes += slot.size;
    for (const t of tables) {
      if (t.isDefault && !defaultMade) continue;
      bytes += container.windowCost(t.window.pageSize, t.window.size, t.window.levels);
    }
    return bytes;
  }

  it('registers 64 MiB of guest RAM in two slots, a memfd the VMM owns and a library buffer', async function () {
    gi.memory.addSlot({ gpa: 0n, memory: { address: memfd.address, size: memfd.size } });
    backing.set(0n, memfd);
    backing.set(32n * MiB, buffer);
    const progress: bigint[] = [];
    await gi.memory.addSlotAsync({
      gpa: 32n * MiB,
      memory: buffer,
      onProgress: ({ done }) => progress.push(done),
    });
    assert.deepEqual(progress, [16n * MiB, 32n * MiB]);
    assert.equal(gi.memory.translate(32n * MiB + 8n), buffer.address + 8n);
    assert.equal(vmLocked(), lockedAtStart + 64n * MiB, 'VmLck = the two slots');
  });

  it('answers the DDW calls from the host: the page sizes the slots allow, refused beyond', function () {
    const query = gi.windows.query();
    assert.equal(query.available, 1);
    assert.deepEqual(query.pageSizes, page === 65536n ? [4096n, 65536n] : [4096n]);
    if (page === 4096n) {
      assert.throws(
        () => gi.windows.create({ pageShift: 16, windowShift: 32 }),
        (e: unknown) =>
          e instanceof GuestWindowRefusedError && e.rtasStatus === RTAS_PARAMETER_ERROR,
      );
    }
    const ddw = gi.windows.create({ pageShift: page === 65536n ? 16 : 12, windowShift: 32 });
    assert.equal(ddw.start, 0x0800000000000000n);
    assert.equal(ddw.pageSize, page);
  });

  it(`runs ${STEPS} seeded hypercalls; the shadow equals the model after each, DMA lands where the TCEs say`, async function () {
    const random = new Random(SEED);
    const tables = gi.windows.tables();
    const models = new Map<GuestTceTable, Model>(tables.map((t) => [t, new Map()]));
    const slotEnd = () =>
      gi.memory.slots().reduce((end, s) => (s.gpa + s.size > end ? s.gpa + s.size : end), 0n);
    let hot: { slot: GuestSlot; buffer: DmaBuffer } | null = null;
    let lockedBeforeSteps: bigint | null = null;

    /** A random guest page of a table's page size in the slots (not the list page). */
    const randomGpa = (t: GuestTceTable) => {
      const pages = Number((32n * MiB - 4096n) / t.pageSize) - 1;
      const inHot = hot !== null && random.chance(0.2);
      const base = inHot
        ? (hot as { slot: GuestSlot }).slot.gpa
        : random.chance(0.5)
          ? 0n
          : 32n * MiB;
      const span = inHot ? Number((hot as { slot: GuestSlot }).slot.size / t.pageSize) : pages;
      return base + BigInt(random.int(span)) * t.pageSize;
    };
    /** A random IOBA range of `n` pages in the first 16 MiB of a table. */
    const randomIoba = (t: GuestTceTable, n: number) =>
      t.start + BigInt(random.int(Number((16n * MiB) / t.pageSize) - n)) * t.pageSize;

    const check = (t: GuestTceTable, from: bigint, n: number) => {
      const model = models.get(t) as Model;
      for (let i = 0; i < n; i += 1) {
        const ioba = from + BigInt(i) * t.pageSize;
        const got = t.get(ioba);
        const want = model.get(ioba) ?? 0n;
        assert.equal(got & RW ? got : 0n, want, `seed ${SEED}: entry 0x${ioba.toString(16)}`);
      }
      assert.equal(t.liveEntries, model.size, `seed ${SEED}: live entries`);
    };

    /** edu reads the guest page behind a live entry and writes it back elsewhere: both land as the TCEs say. */
    const dmaCheck = async (t: GuestTceTable) => {
      const model = models.get(t) as Model;
      const live = [...model.entries()].filter(([, tce]) => (tce & RW) === RW);
      if (live.length < 2) return;
      const [ioba, tce] = random.pick(live);
      const [iobaBack, tceBack] = random.pick(
        live.filter(([i, v]) => i !== ioba && (v & ~RW) !== (tce & ~RW)),
      );
      const src = hostBytes(tce & ~RW, COUNT);
      const dst = hostBytes(tceBack & ~RW, COUNT);
      const pattern = Uint8Array.from(
        { length: COUNT },
        (_, i) => (i * 31 + random.int(256)) & 0xff,
      );
      src.set(pattern);
      dst.fill(0);
      await edu.toDevice(ioba, COUNT);
      await edu.toRam(iobaBack, COUNT);
      assert.deepEqual(
        dst,
        pattern,
        `seed ${SEED}: the bytes landed in GPA 0x${(tceBack & ~RW).toString(16)}`,
      );
    };

    for (let step = 0; step < STEPS; step += 1) {
      const t = random.pick(tables);
      const model = models.get(t) as Model;
      const op = random.int(10);
      if (op < 4) {
        // H_PUT_TCE: a put, a replace of a live entry, or a clear (no permission).
        const live = [...model.keys()];
        const ioba = live.length > 0 && random.chance(0.3) ? random.pick(live) : randomIoba(t, 1);
        const tce = random.chance(0.15) ? 0n : randomGpa(t) | (random.chance(0.8) ? RW : TCE_READ);
        t.put(ioba, tce);
        if (tce & RW) model.set(ioba, tce);
        else model.delete(ioba);
        check(t, ioba, 1);
      } else if (op < 7) {
        // H_PUT_TCE_INDIRECT from a big-endian list in guest RAM, contiguous or scattered.
        const n = 1 + random.int(64);
        const ioba = randomIoba(t, n);
        const list = new DataView(memfd.buffer, Number(LIST_GPA), n * 8);
        const contiguous = random.chance(0.5);
        const first = randomGpa(t);
        for (let i = 0; i < n; i += 1) {
          const gpa =
            contiguous && first + BigInt(n) * t.pageSize < 32n * MiB
              ? first + BigInt(i) * t.pageSize
              : randomGpa(t);
          list.setBigUint64(i * 8, gpa | RW);
        }
        t.putIndirect(ioba, LIST_GPA, n);
        for (let i = 0; i < n; i += 1)
          model.set(ioba + BigInt(i) * t.pageSize, list.getBigUint64(i * 8));
        check(t, ioba, n);
      } else {
        // H_STUFF_TCE: a clear of a range, live entries and empty ones.
        const n = 1 + random.int(32);
        const ioba = randomIoba(t, n);
        t.stuff(ioba, 0n, n);
        for (let i = 0; i < n; i += 1) model.delete(ioba + BigInt(i) * t.pageSize);
        check(t, ioba, n);
      }
      if (step % 20 === 19) await dmaCheck(t);
      if (step === 10) {
        lockedBeforeSteps = vmLocked();
        assert.equal(
          lockedBeforeSteps,
          predictedLocked(tables, true),
          'VmLck = slots + TCE tables',
        );
      }
      if (step === STEPS / 3) {
        // Hotplug: a third slot while the "guest" runs.
        const hotBuffer = DmaBuffer.allocate(Number(4n * MiB));
        const slot = await gi.memory.addSlotAsync({ gpa: 1n << 32n, memory: hotBuffer });
        backing.set(slot.gpa, hotBuffer);
        hot = { slot, buffer: hotBuffer };
        assert.ok(slotEnd() > 1n << 32n);
      }
    }
    assert.ok(hot !== null);
    // Only the slots' registrations moved locked memory: the hypercalls charged nothing.
    assert.equal(vmLocked(), (lockedBeforeSteps as bigint) + hot.slot.size);
    assert.equal(vmLocked(), predictedLocked(tables, true));

    // The hot slot leaves only once no entry points into it.
    const intoHot = [...models].flatMap(([t, m]) =>
      [...m]
        .filter(([, tce]) => tce >= hot!.slot.gpa && tce < hot!.slot.gpa + hot!.slot.size)
        .map(([ioba]) => [t, ioba] as const),
    );
    if (intoHot.length === 0) {
      tables[0].put(tables[0].start, hot.slot.gpa | RW);
      models.get(tables[0])?.set(tables[0].start, hot.slot.gpa | RW);
      intoHot.push([tables[0], tables[0].start]);
    }
    assert.throws(
      () => hot!.slot.remove(),
      (e: unknown) => e instanceof SlotInUseError && e.users === intoHot.length,
    );
    for (const [t, ioba] of intoHot) {
      t.stuff(ioba, 0n, 1);
      models.get(t)?.delete(ioba);
    }
    hot.slot.remove();
    hot.buffer.free();
    assert.equal(vmLocked(), predictedLocked(tables, true), 'the hot slot is unpinned');
    for (const t of tables) check(t, t.start, 64);
  });

  it('map.partial-unmap: a run mapped with one MAP stays exact per page: a clear and a replace inside it leave the neighbours translating', async function () {
    const t = gi.windows.tables()[0];
    const base = t.start + 0x800000n;
    const gpa = (i: number) => 0x400000n + BigInt(i) * t.pageSize;
    const run = new BigUint64Array(8).map((_, i) => gpa(i) | RW);
    t.putList(base, run); // contiguous guest pages, equal permissions: one MAP_DMA
    const at = (i: number) => base + BigInt(i) * t.pageSize;
    t.stuff(at(3), 0n, 1); // one UNMAP_DMA of one page inside the run
    const other = 0x600000n;
    t.put(at(5), other | RW); // one MAP_DMA over a page of the run
    assert.equal(t.get(at(3)), 0n);
    assert.equal(container.translate(at(3)), null);
    assert.equal(container.translate(at(4))?.address, gi.memory.translate(gpa(4)));
    const pattern = (seed: number) =>
      Uint8Array.from({ length: COUNT }, (_, i) => (i * 7 + seed) & 0xff);
    // Page 0 -> device -> page 7: both ends of the run still translate where they did.
    hostBytes(gpa(0), COUNT).set(pattern(1));
    hostBytes(gpa(7), COUNT).fill(0);
    await edu.toDevice(at(0), COUNT);
    await edu.toRam(at(7), COUNT);
    assert.deepEqual(hostBytes(gpa(7), COUNT), pattern(1));
    // The replaced page reads from its new guest page, and a neighbour of the cleared one works.
    hostBytes(other, COUNT).set(pattern(2));
    hostBytes(gpa(5), COUNT).set(pattern(9));
    hostBytes(gpa(4), COUNT).fill(0);
    await edu.toDevice(at(5), COUNT);
    await edu.toRam(at(4), COUNT);
    assert.deepEqual(hostBytes(gpa(4), COUNT), pattern(2));
    t.stuff(base, 0n, 8);
  });

  it('refuses bad guest input before the kernel: the device keeps seeing the entries before it', async function () {
    const t = gi.windows.tables()[0];
    t.stuff(t.start, 0n, 4);
    const list = new DataView(memfd.buffer, Number(LIST_GPA), 32);
    const gpas = [0x100000n, 0x200000n, 1n << 40n, 0x300000n];
    gpas.forEach((gpa, i) => list.setBigUint64(i * 8, gpa | RW));
    assert.throws(
      () => t.putIndirect(t.start, LIST_GPA, 4),
      (e: unknown) =>
        e instanceof GuestTceRefusedError &&
        e.index === 2 &&
        e.reason === 'gpa-outside-slots' &&
        e.hcallStatus === -4,
    );
    assert.equal(t.get(t.start + t.pageSize), 0x200000n | RW);
    assert.equal(t.get(t.start + 2n * t.pageSize), 0n);
    // The entry before the refused one is live for the device.
    const pattern = Uint8Array.from({ length: COUNT }, (_, i) => i & 0xff);
    hostBytes(0x200000n, COUNT).set(pattern);
    hostBytes(0x100000n, COUNT).fill(0);
    await edu.toDevice(t.start + t.pageSize, COUNT);
    await edu.toRam(t.start, COUNT);
    assert.deepEqual(hostBytes(0x100000n, COUNT), pattern);
    t.stuff(t.start, 0n, 4);
  });

  it('runs NVMe Identify and a READ through guest TCEs', async function () {
    const t = gi.windows.tables().find((x) => x.isDefault) as GuestTceTable;
    const nvmeRam = DmaBuffer.allocate(Number(MiB));
    const slot = gi.memory.addSlot({ gpa: 2n << 32n, memory: nvmeRam });
    backing.set(slot.gpa, nvmeRam);
    const iova = t.start + 0x4000000n;
    const pages = Number(MiB / t.pageSize);
    const tces = new BigUint64Array(pages).map((_, i) => (slot.gpa + BigInt(i) * t.pageSize) | RW);
    for (let i = 0; i < pages; i += 512)
      t.putList(iova + BigInt(i) * t.pageSize, tces.subarray(i), Math.min(512, pages - i));
    const device = container
      .groups()
      .find((g) => g.number === guest().nvme[0].group)!
      .openDevice(guest().nvme[0].bdf);
    const arena = DmaArena.over(nvmeRam, iova);
    const controller = NvmeController.open(device, arena);
    try {
      await controller.enable();
      const identity = await controller.identifyController();
      assert.equal(identity.model, 'QEMU NVMe Ctrl');
      const namespace = await controller.identifyNamespace(1);
      const queue = await controller.createIoQueuePair({ id: 1, entries: 8 });
      const data = arena.take(namespace.blockSize);
      data.bytes.fill(0xa5);
      await queue.read(namespace, 0n, 1, data.iova);
      const tag = 'vfio-spapr nvme test image\n';
      assert.equal(Buffer.from(data.bytes.subarray(0, tag.length)).toString('latin1'), tag);
      await controller.deleteIoQueuePair(queue);
    } finally {
      await controller.close();
      device.close();
    }
    t.stuff(iova, 0n, pages);
    slot.remove();
    nvmeRam.free();
  });

  it('resets the windows and closes the guest side: the container is as before, locked memory back', function () {
    const def = gi.windows.reset();
    assert.equal(gi.windows.tables().length, 1);
    assert.equal(def.liveEntries, 0);
    gi.close();
    assert.equal(container.regions().length, 0);
    assert.equal(container.windows().length, 1);
    const defaultTable = container.windowCost(4096n, container.info().dma32.size, 1);
    assert.equal(vmLocked(), lockedAtStart + defaultTable, 'only the default window table remains');
  });
});
