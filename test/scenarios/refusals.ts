// The library's refusals, as scenarios that run against the fake binding on the host and
// against the real kernel in the emulated POWER8. Each shows the refusal happens before
// any ioctl (the spy sees no kernel call) and leaves locked memory as it was.
import { strict as assert } from 'node:assert';
import {
  AlignmentError,
  BufferInUseError,
  ClosedError,
  Container,
  DmaBuffer,
  IommuTypeError,
  MappingNotFoundError,
  MappingOverlapError,
  NotRegisteredError,
  OutsideWindowError,
  PageSizeError,
  RegionInUseError,
  RegionNotFoundError,
  RegionOverlapError,
  TceTableAllocationError,
  WindowInUseError,
  WindowLimitError,
  WindowNotFoundError,
} from '../../lib';
import type { NativeBinding } from '../../lib/binding';
import { spyBinding } from '../support/spy-binding';

export interface ScenarioEnv {
  /** A binding to the real kernel or to the fake. */
  binding: NativeBinding;
  /** Viable IOMMU groups on distinct PHBs (at least two). */
  groups: number[];
}

/** Runs `body` and asserts it throws `type` without making any kernel call. */
export function assertRefusedBeforeKernel(
  calls: string[],
  body: () => unknown,
  type: new (...args: never[]) => Error,
): Error {
  const before = calls.length;
  let caught: unknown;
  try {
    body();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof type, `expected ${type.name}, got ${String(caught)}`);
  assert.deepEqual(calls.slice(before), [], 'no ioctl may be issued before the refusal');
  return caught;
}

export function refusalScenarios(getEnv: () => ScenarioEnv): void {
  let env: ScenarioEnv;
  let calls: string[];
  let container: Container;
  let buffers: DmaBuffer[];
  let page: bigint;

  function alloc(size: number): DmaBuffer {
    const buffer = DmaBuffer.allocate(size, { binding: env.binding });
    buffers.push(buffer);
    return buffer;
  }

  beforeEach(function () {
    env = getEnv();
    const spied = spyBinding(env.binding);
    calls = spied.calls;
    buffers = [];
    container = Container.open({ binding: spied.binding });
    container.addGroup(env.groups[0]);
    container.setIommu('v2');
    page = BigInt(env.binding.pageSize());
  });

  afterEach(function () {
    if (!container.closed) container.close();
    for (const buffer of buffers) buffer.free();
  });

  it('refuses a duplicate registration (the kernel says EBUSY)', function () {
    const buffer = alloc(Number(page) * 4);
    container.register(buffer);
    const locked = env.binding.vmLockedBytes();
    assertRefusedBeforeKernel(calls, () => container.register(buffer), RegionOverlapError);
    assert.equal(env.binding.vmLockedBytes(), locked);
  });

  it('refuses an overlapping registration (the kernel says EINVAL)', function () {
    const buffer = alloc(Number(page) * 4);
    container.register(buffer, { size: page * 2n });
    const err = assertRefusedBeforeKernel(
      calls,
      () => container.register(buffer, { offset: page, size: page * 2n }),
      RegionOverlapError,
    );
    assert.equal((err as RegionOverlapError).code, 'ERR_VFIO_REGION_OVERLAP');
  });

  it('registers an adjacent range', function () {
    const buffer = alloc(Number(page) * 4);
    container.register(buffer, { size: page * 2n });
    const second = container.register(buffer, { offset: page * 2n, size: page * 2n });
    assert.equal(second.address, buffer.address + page * 2n);
    assert.equal(container.regions().length, 2);
  });

  it('refuses an unregister whose range is not exactly a registered one (the kernel says ENOENT)', function () {
    const buffer = alloc(Number(page) * 4);
    container.register(buffer);
    const locked = env.binding.vmLockedBytes();
    const err = assertRefusedBeforeKernel(
      calls,
      () => container.regionAt(buffer.address, page),
      RegionNotFoundError,
    );
    assert.match(err.message, /exactly the address and size/);
    assert.equal(container.regionAt(buffer.address, buffer.size).size, BigInt(buffer.size));
    assert.equal(env.binding.vmLockedBytes(), locked);
  });

  it('refuses to unregister while a page is mapped (the kernel would leak the pin)', function () {
    const buffer = alloc(Number(page) * 2);
    const region = container.register(buffer);
    const mapping = container.map(region, 0x100000n);
    const locked = env.binding.vmLockedBytes();
    const err = assertRefusedBeforeKernel(calls, () => region.unregister(), RegionInUseError);
    assert.match(err.message, /live mapping/);
    assert.equal(env.binding.vmLockedBytes(), locked);
    mapping.unmap();
    region.unregister();
    assert.equal(env.binding.vmLockedBytes(), locked - BigInt(buffer.size));
  });

  it('refuses a stale handle with the not-found error of its kind, facts in fields', function () {
    const buffer = alloc(Number(page) * 2);
    const region = container.register(buffer);
    const mapping = container.map(region, 0x100000n);
    mapping.unmap();
    const m = assertRefusedBeforeKernel(calls, () => mapping.unmap(), MappingNotFoundError);
    assert.equal((m as MappingNotFoundError).iova, 0x100000n);
    assert.equal((m as MappingNotFoundError).staleHandle, true);
    region.unregister();
    const r = assertRefusedBeforeKernel(calls, () => region.unregister(), RegionNotFoundError);
    assert.equal((r as RegionNotFoundError).address, buffer.address);
    assertRefusedBeforeKernel(calls, () => container.map(region, 0x100000n), RegionNotFoundError);
    const window = container.windows()[0];
    window.remove();
    const w = assertRefusedBeforeKernel(calls, () => window.remove(), WindowNotFoundError);
    assert.equal((w as WindowNotFoundError).size, window.size);
  });

  it('refuses to map memory that is not registered (the kernel says EPERM)', function () {
    const buffer = alloc(Number(page));
    assertRefusedBeforeKernel(calls, () => container.map(buffer, 0x100000n), NotRegisteredError);
  });

  it('refuses to map a range that runs from a region into unregistered memory', function () {
    const buffer = alloc(Number(page) * 2);
    container.register(buffer, { size: page });
    assertRefusedBeforeKernel(calls, () => container.map(buffer, 0x100000n), NotRegisteredError);
  });

  it('maps a range that crosses two adjacent registered regions', function () {
    const buffer = alloc(Number(page) * 2);
    const a = container.register(buffer, { size: page });
    const b = container.register(buffer, { offset: page, size: page });
    const mapping = container.map(buffer, 0x100000n);
    assert.equal(a.mappingCount, 1);
    assert.equal(b.mappingCount, 1);
    assert.throws(() => b.unregister(), RegionInUseError);
    mapping.unmap();
    a.unregister();
    b.unregister();
  });

  it('refuses a map over a live mapping (the kernel silently replaces it)', function () {
    const buffer = alloc(Number(page) * 2);
    const region = container.register(buffer);
    const first = container.map(region, 0x100000n, { size: page });
    assertRefusedBeforeKernel(
      calls,
      () => container.map(region, 0x100000n, { offset: page, size: page }),
      MappingOverlapError,
    );
    assert.equal(container.translate(0x100000n)?.address, buffer.address);
    first.unmap();
  });

  it('refuses an IOVA not aligned to the IOMMU page (the kernel returns +1)', function () {
    const buffer = alloc(Number(page));
    const region = container.register(buffer);
    assertRefusedBeforeKernel(calls, () => container.map(region, 0x100800n), AlignmentError);
  });

  it('refuses a size not aligned to the IOMMU page', function () {
    const buffer = alloc(Number(page));
    const region = container.register(buffer);
    assertRefusedBeforeKernel(
      calls,
      () => container.map(region, 0x100000n, { size: 100 }),
      AlignmentError,
    );
  });

  it('refuses a range that runs past the window end (the kernel checks only the first page)', function () {
    const buffer = alloc(Number(page) * 2);
    const region = container.register(buffer);
    const window = container.windows()[0];
    assertRefusedBeforeKernel(
      calls,
      () => container.map(region, window.end - page),
      OutsideWindowError,
    );
  });

  it('refuses an IOVA in no window (the kernel says ENXIO)', function () {
    const buffer = alloc(Number(page));
    const region = container.register(buffer);
    assertRefusedBeforeKernel(calls, () => container.map(region, 1n << 40n), OutsideWindowError);
  });

  it('refuses 64K IOMMU pages over memory backed by smaller pages', function () {
    const window = container.createWindow({ pageSize: 65536, size: 1n << 32n });
    const buffer = alloc(65536 * 2);
    const region = container.register(buffer);
    if (page < 65536n) {
      const err = assertRefusedBeforeKernel(
        calls,
        () => container.map(region, window.start),
        PageSizeError,
      );
      assert.match(err.message, /smaller than the window's 65536-byte IOMMU page/);
    } else {
      const mapping = container.map(region, window.start);
      assert.equal(mapping.window, window);
      mapping.unmap();
    }
  });

  it('refuses a third window where the host allows two (the kernel says ENOSPC)', function () {
    container.createWindow({ pageSize: 65536, size: 1n << 32n });
    assertRefusedBeforeKernel(
      calls,
      () => container.createWindow({ pageSize: 65536, size: 1n << 32n }),
      WindowLimitError,
    );
  });

  it('refuses a window whose TCE table level the kernel cannot allocate (it would keep the charge)', function () {
    // Twice the largest block the page allocator gives, in one level of 4K pages.
    const largest = BigInt(env.binding.pageSize()) << BigInt(env.binding.maxPageOrder());
    const size = ((largest * 2n) / 8n) * 4096n;
    const locked = env.binding.vmLockedBytes();
    const err = assertRefusedBeforeKernel(
      calls,
      () => container.createWindow({ pageSize: 4096, size }),
      TceTableAllocationError,
    );
    assert.equal((err as TceTableAllocationError).strandedBytes, 0n);
    assert.match(err.message, /use levels: 2 or more/);
    assert.equal(env.binding.vmLockedBytes(), locked);
    const window = container.createWindow({ pageSize: 4096, size, levels: 2 });
    assert.equal(window.levels, 2);
    window.remove();
  });

  it('refuses to remove a window with live mappings', function () {
    const buffer = alloc(Number(page));
    const region = container.register(buffer);
    const mapping = container.map(region, 0x100000n);
    assertRefusedBeforeKernel(calls, () => mapping.window.remove(), WindowInUseError);
    mapping.unmap();
  });

  it('refuses v1 calls on v2', function () {
    assertRefusedBeforeKernel(calls, () => container.enable(), IommuTypeError);
  });

  it('refuses to free a buffer while it is registered', function () {
    const buffer = alloc(Number(page));
    const region = container.register(buffer);
    assert.throws(() => buffer.free(), BufferInUseError);
    region.unregister();
  });

  it('refuses use after close, and close releases the books', function () {
    const buffer = alloc(Number(page));
    const region = container.register(buffer);
    container.map(region, 0x100000n);
    container.close();
    assert.equal(buffer.inUse, false);
    assertRefusedBeforeKernel(calls, () => container.register(buffer), ClosedError);
    assertRefusedBeforeKernel(calls, () => container.map(buffer, 0x200000n), ClosedError);
  });

  it('answers what is at a bus address, and lists live mappings', function () {
    const buffer = alloc(Number(page) * 4);
    const region = container.register(buffer);
    container.map(region, 0x100000n, { size: page * 2n });
    container.map(region, 0x400000n, { offset: page * 2n, size: page * 2n, write: false });
    const t = container.translate(0x400000n + page + 8n);
    assert.ok(t);
    assert.equal(t.address, buffer.address + page * 3n + 8n);
    assert.equal(t.region, region);
    assert.equal(t.offset, page + 8n);
    assert.equal(t.mapping?.writable, false);
    assert.equal(t.guest, null);
    assert.equal(container.translate(0x300000n), null);
    assert.deepEqual(
      container.mappings().map((m) => m.iova),
      [0x100000n, 0x400000n],
    );
  });
}
