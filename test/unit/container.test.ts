import { strict as assert } from 'node:assert';
import * as os from 'node:os';
import {
  ArgumentRangeError,
  Container,
  DmaBuffer,
  ForkedProcessError,
  GroupLimitError,
  GroupNotViableError,
  HugetlbRegistrationError,
  IommuTypeError,
  MemlockLimitError,
  NoDynamicWindowsError,
  NotEnabledError,
  NotRegisteredError,
  OperationPendingError,
  RegionOverlapError,
  TceTableAllocationError,
  WindowInUseError,
} from '../../lib';
import { FakeKernel } from '../support/fake-binding';
import { spyBinding } from '../support/spy-binding';
import { assertRefusedBeforeKernel, refusalScenarios } from '../scenarios/refusals';

const MiB = 1n << 20n;

for (const pageSize of [4096, 65536]) {
  describe(`refusals against the fake kernel (${pageSize / 1024}K pages)`, function () {
    refusalScenarios(() => ({
      binding: new FakeKernel({ pageSize }).binding(),
      groups: [0, 1],
    }));
  });
}

describe('container against the fake kernel', function () {
  let kernel: FakeKernel;
  beforeEach(function () {
    kernel = new FakeKernel({ pageSize: 4096 });
  });

  function openV2(binding = kernel.binding()): Container {
    const c = Container.open({ binding });
    c.addGroup(0);
    c.setIommu('v2');
    return c;
  }

  it('reports the extensions and the window info', function () {
    const c = openV2();
    assert.deepEqual(c.extensions(), { spaprV1: true, spaprV2: true, eeh: true, type1: false });
    const info = c.info();
    assert.deepEqual(info.dma32, { start: 0n, size: 0x80000000n });
    assert.deepEqual(info.ddw?.pageSizes, [4096n, 65536n, 16n * MiB, 256n * MiB]);
    assert.equal(info.ddw?.maxWindows, 2);
    assert.equal(c.windows().length, 1);
    assert.equal(c.windows()[0].isDefault, true);
    c.close();
  });

  it('puts two groups in one container on IODA2', function () {
    const c = Container.open({ binding: kernel.binding() });
    c.addGroup(0);
    c.addGroup(1);
    assert.deepEqual(
      c.groups().map((g) => g.number),
      [0, 1],
    );
    c.close();
  });

  it('gives a typed error where the host allows one group per container', function () {
    const old = new FakeKernel({ ioda2: false });
    const c = Container.open({ binding: old.binding() });
    c.addGroup(0);
    assert.throws(() => c.addGroup(1), GroupLimitError);
    c.setIommu('v2');
    assert.throws(
      () => c.createWindow({ pageSize: 65536, size: 1n << 32n }),
      NoDynamicWindowsError,
    );
    c.close();
  });

  it('refuses a group that is not viable', function () {
    const c = Container.open({ binding: kernel.binding() });
    assert.throws(() => c.addGroup(2), GroupNotViableError);
    c.close();
  });

  it('refuses to choose the IOMMU before a group, or twice', function () {
    const c = Container.open({ binding: kernel.binding() });
    assert.throws(() => c.setIommu('v2'), IommuTypeError);
    c.addGroup(0);
    c.setIommu('v2');
    assert.throws(() => c.setIommu('v1'), IommuTypeError);
    c.close();
  });

  it("types the kernel's EINVAL for memory another container registered otherwise", async function () {
    const binding = kernel.binding();
    const c0 = openV2(binding);
    const c1 = Container.open({ binding });
    c1.addGroup(1);
    c1.setIommu('v2');
    const buffer = DmaBuffer.allocate(4 * 65536, { binding });
    c0.register(buffer);
    const byAnotherContainer = (error: unknown) =>
      error instanceof RegionOverlapError &&
      /another container of this process/.test(error.message);
    // c1's own books are empty: only the kernel's one list per process can refuse these.
    assert.throws(() => c1.register(buffer, { offset: 65536, size: 65536 }), byAnotherContainer);
    assert.throws(
      () => c1.registerCallerOwnedMemory(buffer.address, 2 * 65536),
      byAnotherContainer,
    );
    await assert.rejects(c1.registerAsync(buffer, { size: 2 * 65536 }), byAnotherContainer);
    assert.equal(c1.regions().length, 0);
    // Exactly the same range is shared, as the kernel shares it.
    c1.register(buffer).unregister();
    c1.close();
    c0.close();
    buffer.free();
  });

  describe('memlock prediction (non-root, 8 MiB limit)', function () {
    beforeEach(function () {
      kernel.memlockLimit = 8n * MiB;
    });

    it('predicts the lazy 8 MiB default window before the kernel says ENOMEM', function () {
      const spied = spyBinding(kernel.binding());
      const c = openV2(spied.binding);
      const buffer = DmaBuffer.allocate(3n * MiB, { binding: kernel.binding() });
      const region = c.register(buffer);
      assert.equal(kernel.locked, 3n * MiB);
      const err = assertRefusedBeforeKernel(
        spied.calls,
        () => c.map(region, 0n, { size: 4096 }),
        MemlockLimitError,
      ) as MemlockLimitError;
      assert.equal(err.needed, 8n * MiB);
      assert.equal(err.locked, 3n * MiB);
      assert.equal(err.limit, 8n * MiB);
      assert.equal(err.ulimitKiB, 11n * 1024n);
      kernel.memlockLimit = err.ulimitKiB * 1024n;
      const mapping = c.map(region, 0n, { size: 4096 });
      assert.equal(kernel.locked, 11n * MiB);
      mapping.unmap();
      region.unregister();
      c.close();
      buffer.free();
      assert.equal(kernel.locked, 0n);
    });

    it('predicts a registration past the limit', function () {
      const spied = spyBinding(kernel.binding());
      const c = openV2(spied.binding);
      const buffer = DmaBuffer.allocate(9n * MiB, { binding: kernel.binding() });
      const err = assertRefusedBeforeKernel(
        spied.calls,
        () => c.register(buffer),
        MemlockLimitError,
      ) as MemlockLimitError;
      assert.equal(err.needed, 9n * MiB);
      assert.equal(err.ulimitKiB, 9n * 1024n);
      c.close();
      buffer.free();
    });

    it('lets CAP_IPC_LOCK through, as the kernel does', function () {
      kernel.capIpcLock = true;
      const c = openV2();
      const buffer = DmaBuffer.allocate(9n * MiB, { binding: kernel.binding() });
      c.register(buffer);
      c.close();
      buffer.free();
    });

    it('reports what a plan needs', function () {
      const c = openV2();
      const report = c.memlock([
        { what: 'register 1 MiB', bytes: MiB },
        { what: 'window', bytes: c.windowCost(65536, 1n << 32n) },
      ]);
      assert.equal(report.needed, 2n * MiB);
      assert.equal(report.limit, 8n * MiB);
      assert.equal(report.fits, true);
      c.close();
    });
  });

  it('refuses use from another process (fork)', function () {
    const spied = spyBinding(kernel.binding());
    const c = openV2(spied.binding);
    const buffer = DmaBuffer.allocate(4096, { binding: kernel.binding() });
    kernel.pid += 1;
    const err = assertRefusedBeforeKernel(
      spied.calls,
      () => c.register(buffer),
      ForkedProcessError,
    );
    assert.match(err.message, /belongs to process 1000, not to this process \(1001\)/);
    kernel.pid -= 1;
    c.close();
    buffer.free();
  });

  describe('v1', function () {
    it('charges the whole window at enable and the default table at the first map, maps without registration, refuses v2 calls', function () {
      const spied = spyBinding(kernel.binding());
      const c = Container.open({ binding: spied.binding });
      c.addGroup(0);
      c.setIommu('v1');
      const buffer = DmaBuffer.allocate(8192, { binding: kernel.binding() });
      assertRefusedBeforeKernel(spied.calls, () => c.map(buffer, 0n), NotEnabledError);
      assertRefusedBeforeKernel(spied.calls, () => c.register(buffer), IommuTypeError);
      assertRefusedBeforeKernel(
        spied.calls,
        () => c.createWindow({ pageSize: 4096, size: 1n << 32n }),
        IommuTypeError,
      );
      kernel.memlockLimit = 8n * MiB;
      assertRefusedBeforeKernel(spied.calls, () => c.enable(), MemlockLimitError);
      kernel.memlockLimit = (2n << 30n) + 4n * MiB;
      c.enable();
      assert.equal(kernel.locked, 2n << 30n);
      assertRefusedBeforeKernel(spied.calls, () => c.map(buffer, 0n), MemlockLimitError);
      kernel.memlockLimit = (2n << 30n) + 8n * MiB;
      const mapping = c.map(buffer, 0n);
      assert.equal(kernel.locked, (2n << 30n) + 8n * MiB, 'the lazy default window, as on v2');
      assert.equal(mapping.size, 8192n);
      assert.throws(() => buffer.free(), /still registered or mapped/);
      // Disabled, the kernel would keep the mapping and refuse to unmap it (EPERM).
      const live = assertRefusedBeforeKernel(spied.calls, () => c.disable(), WindowInUseError);
      assert.equal((live as WindowInUseError).mappingCount, 1);
      mapping.unmap();
      c.disable();
      c.close();
      buffer.free();
    });
  });

  describe('async registration', function () {
    it('books the range at once, refuses maps until done, and unbooks on failure', async function () {
      const c = openV2();
      const buffer = DmaBuffer.allocate(65536, { binding: kernel.binding() });
      const pending = c.registerAsync(buffer);
      assert.throws(() => c.register(buffer), RegionOverlapError);
      assert.throws(() => c.map(buffer, 0n), NotRegisteredError);
      assert.throws(() => c.close(), OperationPendingError);
      const region = await pending;
      const mapping = c.map(region, 0n);
      mapping.unmap();
      region.unregister();

      kernel.memlockLimit = 0n;
      kernel.capIpcLock = false;
      await assert.rejects(c.registerAsync(buffer), MemlockLimitError);
      kernel.memlockLimit = 1n << 40n;
      const failing = c.registerAsync(buffer);
      kernel.memlockLimit = 0n; // the kernel says ENOMEM after the prediction passed
      await assert.rejects(failing, (e: unknown) => (e as { code: string }).code === 'ENOMEM');
      assert.equal(c.regions().length, 0);
      assert.equal(buffer.inUse, false);
      c.close();
      buffer.free();
    });
  });

  it('registers asynchronously in 16 MiB blocks, so the event loop runs between them', async function () {
    const spied = spyBinding(kernel.binding());
    const c = openV2(spied.binding);
    const buffer = DmaBuffer.allocate(40n * MiB, { binding: kernel.binding() });
    const region = await c.registerAsync(buffer);
    assert.deepEqual(spied.calls.filter((call) => call === 'registerMemoryAsync').length, 3);
    assert.equal(kernel.locked, 40n * MiB);
    assert.equal(c.regions().length, 1);
    assert.equal(region.size, 40n * MiB);
    const mapping = c.map(region, 0n, { offset: 15n * MiB, size: 2n * MiB });
    mapping.unmap();
    region.unregister();
    assert.deepEqual(spied.calls.filter((call) => call === 'unregisterMemory').length, 3);
    assert.equal(kernel.locked, 8n * MiB, 'only the default window table is left');
    c.close();
    assert.equal(kernel.locked, 0n);
    buffer.free();
  });

  it('undoes the blocks already pinned when a later block fails', async function () {
    const c = openV2();
    const buffer = DmaBuffer.allocate(40n * MiB, { binding: kernel.binding() });
    kernel.memlockLimit = 40n * MiB;
    const pending = c.registerAsync(buffer);
    kernel.memlockLimit = 20n * MiB; // the second block fails in the kernel
    await assert.rejects(pending, (e: unknown) => (e as { code: string }).code === 'ENOMEM');
    assert.equal(kernel.locked, 0n);
    assert.equal(c.regions().length, 0);
    c.close();
    buffer.free();
  });

  it('keeps a registered buffer alive and frees it once released', function () {
    const c = openV2();
    const buffer = DmaBuffer.allocate(4096, { binding: kernel.binding() });
    const region = c.register(buffer);
    assert.equal(region.buffer, buffer);
    assert.equal(buffer.inUse, true);
    region.unregister();
    assert.equal(buffer.inUse, false);
    buffer.free();
    assert.equal(buffer.freed, true);
    assert.throws(() => buffer.bytes(), /closed/);
    buffer.free();
    c.close();
  });

  it('a window table the kernel fails to allocate: the charge it strands is named, and memlock still adds up', function () {
    const c = openV2();
    kernel.failNextTableAllocation = true; // as a fragmented page allocator would
    const cost = c.windowCost(65536, 1n << 32n);
    const before = kernel.locked;
    assert.throws(
      () => c.createWindow({ pageSize: 65536, size: 1n << 32n }),
      (e: unknown) =>
        e instanceof TceTableAllocationError &&
        e.strandedBytes === cost &&
        /left \d+ bytes charged to locked memory until this process exits/.test(e.message),
    );
    const defaultTable = c.windowCost(4096, 0x80000000n);
    assert.equal(
      kernel.locked - before,
      defaultTable + cost,
      'the default window and the stranded table',
    );
    assert.equal(c.memlock().locked, kernel.locked, 'the status reads what the kernel charged');
    c.close();
    assert.equal(kernel.locked - before, cost, 'stranded until the process exits');
  });

  it('a too-large table level where /proc/buddyinfo cannot be read: the kernel refuses, and the error names what it stranded', function () {
    const blind = new FakeKernel({ pageSize: 4096, buddyinfo: false });
    const c = openV2(blind.binding());
    const size = 1n << 34n; // 4K pages in one level: 32 MiB levels, past the 16 MiB blocks
    const before = blind.locked;
    assert.throws(
      () => c.createWindow({ pageSize: 4096, size }),
      (e: unknown) =>
        e instanceof TceTableAllocationError && e.strandedBytes === c.windowCost(4096, size),
    );
    c.close();
    assert.equal(blind.locked - before, c.windowCost(4096, size), 'stranded until exit');
  });

  it('registers caller-owned memory with its backing page size', function () {
    const c = openV2(new FakeKernel({ pageSize: 65536 }).binding());
    const window = c.createWindow({ pageSize: 65536, size: 1n << 32n });
    const region = c.registerCallerOwnedMemory(0x7e0000000000n, 1n << 24n, {
      backingPageSize: 1n << 24n,
    });
    assert.equal(region.buffer, null);
    const mapping = c.map(region, window.start);
    assert.equal(c.translate(window.start + 65536n)?.address, 0x7e0000010000n);
    mapping.unmap();
    window.remove();
    assert.equal(c.windows().length, 1);
    region.unregister();
    c.close();
  });
});

describe('registrations larger than the machine', function () {
  it("refuses caller-owned memory larger than the machine's memory before the kernel (which WARNs)", async function () {
    const kernel = new FakeKernel({ pageSize: 65536 });
    const spied = spyBinding(kernel.binding());
    const c = Container.open({ binding: spied.binding });
    c.addGroup(0);
    c.setIommu('v2');
    const beyond = (BigInt(os.totalmem()) + 0x10000n) & ~0xffffn;
    assertRefusedBeforeKernel(
      spied.calls,
      () => c.registerCallerOwnedMemory(0x7e0000000000n, beyond),
      ArgumentRangeError,
    );
    const before = spied.calls.length;
    await assert.rejects(
      c.registerCallerOwnedMemoryAsync(0x3fff9c3f0000n, 1n << 63n),
      (error: Error) =>
        error instanceof ArgumentRangeError &&
        /more than this machine's memory/.test(error.message),
    );
    assert.equal(spied.calls.length, before, 'no native call');
    c.registerCallerOwnedMemory(0x7e0000000000n, 1n << 20n).unregister();
    c.close();
  });
});

describe('huge pages against the fake kernel', function () {
  it('refuses hugetlb-backed registration on a 4K-page kernel, before the kernel hangs', function () {
    const kernel = new FakeKernel({ pageSize: 4096 });
    const spied = spyBinding(kernel.binding());
    const c = Container.open({ binding: spied.binding });
    c.addGroup(0);
    c.setIommu('v2');
    const buffer = DmaBuffer.allocate(16n * MiB, { backing: 'hugetlb', binding: kernel.binding() });
    assertRefusedBeforeKernel(spied.calls, () => c.register(buffer), HugetlbRegistrationError);
    assertRefusedBeforeKernel(
      spied.calls,
      () => c.registerCallerOwnedMemory(0x7e0000000000n, 16n * MiB, { backingPageSize: 16n * MiB }),
      HugetlbRegistrationError,
    );
    c.close();
    buffer.free();
  });

  it('registers hugetlb-backed memory on a 64K-page kernel and maps it with 16M IOMMU pages', function () {
    const kernel = new FakeKernel({ pageSize: 65536 });
    const c = Container.open({ binding: kernel.binding() });
    c.addGroup(0);
    c.setIommu('v2');
    const buffer = DmaBuffer.allocate(16n * MiB, { backing: 'hugetlb', binding: kernel.binding() });
    assert.equal(buffer.backingPageSize, 16n * MiB);
    const region = c.register(buffer);
    const window = c.createWindow({ pageSize: 16n * MiB, size: 1n << 32n });
    c.map(region, window.start).unmap();
    c.close();
    buffer.free();
  });
});
