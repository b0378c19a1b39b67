// The guest IOMMU against the fake kernel: the rules and the shadow are the addon's own; the
// fake records which ioctls they issue (kernel.guestOps) and carries them out.
import { strict as assert } from 'node:assert';
import {
  AbortError,
  Container,
  DmaBuffer,
  GuestIommu,
  GuestOwnedError,
  GuestTceRefusedError,
  GuestWindowRefusedError,
  H_PARAMETER,
  H_SUCCESS,
  IommuTypeError,
  RTAS_HARDWARE_ERROR,
  RTAS_PARAMETER_ERROR,
  SlotInUseError,
  SlotOverlapError,
  type GuestTceTable,
} from '../../lib';
import { FakeKernel } from '../support/fake-binding';

const MiB = 1n << 20n;
const RW = 3n;

/** The ops of the guest calls since `from`: ['MAP', iova, size] or ['UNMAP', iova, size]. */
function opsSince(kernel: FakeKernel, from: number): [string, bigint, bigint][] {
  const ops: [string, bigint, bigint][] = [];
  for (const call of kernel.guestOps.slice(from)) {
    for (let i = 0; i < call.length; i += 5) {
      ops.push([call[i] === 1n ? 'MAP' : 'UNMAP', call[i + 1], call[i + 2]]);
    }
  }
  return ops;
}

for (const pageSize of [4096, 65536]) {
  describe(`guest IOMMU against the fake kernel (${pageSize / 1024}K pages)`, function () {
    let kernel: FakeKernel;
    let container: Container;
    let guest: GuestIommu;
    let ram: DmaBuffer;
    let table: GuestTceTable;
    const page = BigInt(pageSize);

    beforeEach(function () {
      kernel = new FakeKernel({ pageSize, realMemory: true });
      container = Container.open({ binding: kernel.binding() });
      container.addGroup(0);
      container.addGroup(1);
      container.setIommu('v2');
      guest = GuestIommu.attach(container);
      ram = DmaBuffer.allocate(Number(8n * MiB), { binding: kernel.binding() });
      guest.memory.addSlot({ gpa: 0n, memory: ram });
      table = guest.table(0x80000000);
    });

    afterEach(function () {
      if (!container.closed) container.close();
      ram.free();
    });

    it('serves the default window at the host default window, and refuses a v1 container', function () {
      assert.equal(table.start, 0n);
      assert.equal(table.pageSize, 4096n);
      assert.equal(table.isDefault, true);
      const v1 = Container.open({ binding: new FakeKernel({ pageSize }).binding() });
      v1.addGroup(0);
      v1.setIommu('v1');
      assert.throws(() => GuestIommu.attach(v1), IommuTypeError);
    });

    it('H_PUT_TCE maps one page, H_GET_TCE reads it back, translate() follows it', function () {
      const from = kernel.guestOps.length;
      table.put(0x10000n, 0x3000n | RW);
      assert.deepEqual(opsSince(kernel, from), [['MAP', 0x10000n, 4096n]]);
      assert.equal(table.get(0x10000n), 0x3000n | RW);
      assert.equal(table.get(0x11000n), 0n);
      const t = container.translate(0x10010n);
      assert.equal(t?.address, ram.address + 0x3010n);
      assert.deepEqual(t?.guest, { liobn: 0x80000000, tce: 0x3000n | RW });
      assert.equal(t?.mapping, null);
      assert.equal(guest.memory.slots()[0].users, 1);
    });

    it('replaces a live entry with one MAP and no UNMAP: the device never sees neither', function () {
      table.put(0x10000n, 0x3000n | RW);
      const from = kernel.guestOps.length;
      table.put(0x10000n, 0x5000n | 1n);
      assert.deepEqual(opsSince(kernel, from), [['MAP', 0x10000n, 4096n]]);
      assert.equal(container.translate(0x10000n)?.address, ram.address + 0x5000n);
      assert.equal(guest.memory.slots()[0].users, 1);
    });

    it('maps 512 contiguous TCEs with one MAP, 512 scattered ones with 512, and clears them with one UNMAP', function () {
      const contiguous = new BigUint64Array(512).map((_, i) => BigInt(i * 4096) | RW);
      let from = kernel.guestOps.length;
      table.putList(0x200000n, contiguous);
      assert.deepEqual(opsSince(kernel, from), [['MAP', 0x200000n, 512n * 4096n]]);
      const scattered = new BigUint64Array(512).map((_, i) => BigInt(((i * 7) % 512) * 4096) | RW);
      from = kernel.guestOps.length;
      table.putList(0x600000n, scattered);
      assert.equal(opsSince(kernel, from).length, 512);
      from = kernel.guestOps.length;
      table.stuff(0x200000n, 0n, 512);
      assert.deepEqual(opsSince(kernel, from), [['UNMAP', 0x200000n, 512n * 4096n]]);
      assert.equal(table.liveEntries, 512);
      // A page inside a run is cleared exactly: its neighbours stay.
      table.put(0x600000n + 4096n, 0n);
      assert.equal(table.get(0x600000n), scattered[0]);
      assert.equal(table.get(0x600000n + 8192n), scattered[2]);
      assert.equal(table.liveEntries, 511);
      from = kernel.guestOps.length;
      table.stuff(0x200000n, 0n, 16);
      assert.deepEqual(
        opsSince(kernel, from),
        [],
        'clearing clear entries asks the kernel nothing',
      );
    });

    it("H_PUT_TCE_INDIRECT reads the guest's big-endian list in place", function () {
      const list = new DataView(ram.buffer, 0x7000, 8 * 4);
      for (let i = 0; i < 4; i += 1) list.setBigUint64(i * 8, BigInt(0x100000 + i * 4096) | RW);
      table.putIndirect(0x40000n, 0x7000n, 4);
      for (let i = 0; i < 4; i += 1) {
        assert.equal(table.get(0x40000n + BigInt(i * 4096)), BigInt(0x100000 + i * 4096) | RW);
      }
      assert.deepEqual(guest.putTceIndirect(0x80000000, 0x40000n, 0x7008n, 1), {
        status: H_PARAMETER,
      });
    });

    it('refuses bad guest input before any ioctl, with H_PARAMETER, leaving the entries before it done', function () {
      const cases: [() => void, string][] = [
        [() => table.put(0x10800n, 0x3000n | RW), 'ioba-misaligned'],
        [() => table.put(0x80000000n, 0x3000n | RW), 'ioba-outside-window'],
        [() => table.put(0x10000n, 0x3800n | RW), 'gpa-misaligned'],
        [() => table.put(0x10000n, (64n * MiB) | RW), 'gpa-outside-slots'],
        [() => table.putList(0n, new BigUint64Array(513), 513), 'too-many-entries'],
        [() => table.putList(0n, new BigUint64Array(3), 4), 'list-short'],
        [() => table.putIndirect(0n, 0x7010n, 2), 'list-misaligned'],
        [() => table.putIndirect(0n, 64n * MiB, 2), 'list-outside-slots'],
        [() => table.stuff(0x7ffff000n, 0n, 2), 'ioba-outside-window'],
      ];
      for (const [call, reason] of cases) {
        const from = kernel.guestOps.length;
        assert.throws(call, (e: unknown) => {
          assert.ok(e instanceof GuestTceRefusedError, String(e));
          assert.equal(e.reason, reason);
          assert.equal(e.hcallStatus, H_PARAMETER);
          return true;
        });
        assert.deepEqual(opsSince(kernel, from), [], reason);
      }
      const list = new BigUint64Array([0x1000n | RW, 0x2000n | RW, (64n * MiB) | RW, 0x4000n | RW]);
      assert.throws(
        () => table.putList(0x100000n, list),
        (e: unknown) => e instanceof GuestTceRefusedError && e.index === 2,
      );
      assert.equal(table.get(0x100000n), list[0]);
      assert.equal(table.get(0x101000n), list[1]);
      assert.equal(table.get(0x102000n), 0n);
      assert.equal(table.get(0x103000n), 0n, 'entries after the refused one are not done');
      assert.deepEqual(guest.putTce(0x80000005, 0n, 0x1000n | RW), { status: H_PARAMETER });
      assert.deepEqual(guest.putTce(0x80000000, 0n, 0x1000n | RW), { status: H_SUCCESS });
      assert.deepEqual(guest.getTce(0x80000000, 0n), { status: H_SUCCESS, tce: 0x1000n | RW });
    });

    it('refuses a slot removal while TCEs point into it, and allows it once they are cleared', async function () {
      const hot = DmaBuffer.allocate(Number(2n * MiB), { binding: kernel.binding() });
      const slot = await guest.memory.addSlotAsync({ gpa: 1n << 32n, memory: hot });
      assert.throws(
        () => guest.memory.addSlot({ gpa: (1n << 32n) + MiB, memory: ram }),
        SlotOverlapError,
      );
      table.put(0x50000n, (1n << 32n) | RW);
      assert.equal(guest.memory.translate((1n << 32n) + 5n), hot.address + 5n);
      assert.throws(
        () => slot.remove(),
        (e: unknown) => e instanceof SlotInUseError && e.users === 1,
      );
      assert.throws(() => container.unregister(slot.region), GuestOwnedError);
      table.stuff(0x50000n, 0n, 1);
      slot.remove();
      assert.equal(guest.memory.slots().length, 1);
      assert.equal(guest.memory.translate(1n << 32n), null);
      hot.free();
    });

    it('refuses a TCE whose page runs past the end of its slot', function () {
      if (pageSize !== 65536) this.skip(); // needs huge pages, which 4K-page kernels cannot pin
      const huge = 16n * MiB;
      guest.memory.addSlot({
        gpa: 1n << 34n,
        memory: { address: 1n << 40n, size: huge + page, backingPageSize: huge },
      });
      guest.memory.slots()[0].remove(); // leave only the huge-page slot: 16M pages are offered
      const ddw = guest.windows.create({ pageShift: 24, windowShift: 32 });
      assert.throws(
        () => ddw.put(ddw.start, ((1n << 34n) + huge) | RW),
        (e: unknown) => e instanceof GuestTceRefusedError && e.reason === 'gpa-crosses-slot-end',
      );
    });

    it("keeps the container's own calls out of a guest window", function () {
      const region = [...container.regions()][0];
      assert.throws(() => container.map(region, 0x10000n), GuestOwnedError);
      assert.throws(() => container.removeWindow(table.window), GuestOwnedError);
    });

    it('answers the DDW calls from the host: page sizes, window count, starts, reset', function () {
      const query = guest.windows.query();
      assert.equal(query.available, 1);
      const expected = pageSize === 65536 ? [4096n, 65536n] : [4096n];
      assert.deepEqual(query.pageSizes, expected);
      assert.equal(query.pageSizeMask, pageSize === 65536 ? 0x3 : 0x1);
      if (pageSize === 4096) {
        assert.throws(
          () => guest.windows.create({ pageShift: 16, windowShift: 32 }),
          (e: unknown) =>
            e instanceof GuestWindowRefusedError && e.rtasStatus === RTAS_PARAMETER_ERROR,
        );
      }
      const shift = pageSize === 65536 ? 16 : 12;
      const ddw = guest.windows.create({ pageShift: shift, windowShift: 32 });
      assert.equal(ddw.start, 0x0800000000000000n);
      assert.equal(ddw.liobn, 0x80000001);
      assert.throws(
        () => guest.windows.create({ pageShift: 12, windowShift: 30 }),
        (e: unknown) =>
          e instanceof GuestWindowRefusedError && e.rtasStatus === RTAS_HARDWARE_ERROR,
      );
      ddw.put(ddw.start, page | RW);
      assert.equal(container.translate(ddw.start + 4n)?.address, ram.address + page + 4n);
      table.put(0n, RW);
      const lockedBefore = kernel.locked;
      guest.windows.reset();
      assert.equal(guest.windows.tables().length, 1);
      assert.equal(table.liveEntries, 0);
      assert.ok(kernel.locked < lockedBefore, 'the dynamic window table is freed');
      assert.throws(() => ddw.put(ddw.start, RW), /closed/);
      // The default window removed, a new window lands at bus address 0.
      guest.windows.remove(0x80000000);
      const low = guest.windows.create({ pageShift: 12, windowShift: 31 });
      assert.equal(low.start, 0n);
    });

    it('charges slots and tables only: puts and clears leave locked memory as it was', function () {
      table.put(0n, RW); // the default window's table is made at the first ioctl
      table.stuff(0n, 0n, 1);
      const locked = kernel.locked;
      for (let i = 0; i < 200; i += 1) {
        table.put(BigInt(i) * 4096n, (BigInt(i % 100) * 4096n) | RW);
        if (i % 3 === 0) table.stuff(BigInt(i) * 4096n, 0n, 1);
      }
      assert.equal(kernel.locked, locked);
    });

    it('aborts an async slot registration between blocks, leaving nothing pinned', async function () {
      const big = DmaBuffer.allocate(Number(48n * MiB), { binding: kernel.binding() });
      const locked = kernel.locked;
      const controller = new AbortController();
      const seen: bigint[] = [];
      await assert.rejects(
        guest.memory.addSlotAsync({
          gpa: 1n << 33n,
          memory: big,
          signal: controller.signal,
          onProgress: ({ done }) => {
            seen.push(done);
            controller.abort();
          },
        }),
        (e: unknown) => e instanceof AbortError && e.code === 'ABORT_ERR',
      );
      assert.deepEqual(seen, [16n * MiB]);
      assert.equal(kernel.locked, locked);
      assert.equal(guest.memory.slots().length, 1);
      assert.equal(container.regions().length, 1);
      big.free();
    });

    it('maps the live entries again when a group leaves, and stops when the IOMMU goes', function () {
      table.putList(0n, new BigUint64Array([0x1000n | RW, 0x2000n | RW]));
      const from = kernel.guestOps.length;
      container.groups()[1].close();
      assert.deepEqual(opsSince(kernel, from), [['MAP', 0n, 8192n]]);
      container.groups()[0].close();
      assert.throws(() => table.put(0n, RW), /closed/);
    });
  });
}
