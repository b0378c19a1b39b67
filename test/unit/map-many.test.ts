// Container.mapMany: many ranges in one native call, all or nothing. Every refusal happens
// before the kernel is asked and leaves the books as they were; a kernel failure midway is
// rolled back (the ranges already mapped are unmapped).
import { strict as assert } from 'node:assert';
import {
  AlignmentError,
  ArgumentRangeError,
  Container,
  DmaBuffer,
  InvalidArgumentError,
  MappingOverlapError,
  NotRegisteredError,
  OutsideWindowError,
  VfioSystemError,
  type Region,
} from '../../lib';
import { type NativeBinding, type NativeError } from '../../lib/binding';
import { FakeKernel } from '../support/fake-binding';
import { kernelCalls, spyBinding } from '../support/spy-binding';
import { assertRefusedBeforeKernel } from '../scenarios/refusals';

const PAGE = 4096;

describe('Container.mapMany against the fake kernel', function () {
  let kernel: FakeKernel;
  let calls: string[];
  let container: Container;
  let buffer: DmaBuffer;
  let region: Region;

  function open(binding: NativeBinding): void {
    const spied = spyBinding(binding);
    calls = spied.calls;
    container = Container.open({ binding: spied.binding });
    container.addGroup(0);
    container.setIommu('v2');
    buffer = DmaBuffer.allocate(16 * PAGE, { binding: kernel.binding() });
    region = container.register(buffer);
  }

  const page = (i: number) => ({
    source: region,
    iova: BigInt(0x100000 + i * PAGE),
    offset: i * PAGE,
    size: PAGE,
  });

  beforeEach(function () {
    kernel = new FakeKernel({ pageSize: PAGE });
    open(kernel.binding());
  });
  afterEach(function () {
    container.close();
    buffer.free();
  });

  function assertBooksUntouched(): void {
    assert.equal(container.mappings().length, 0);
    assert.equal(region.mappingCount, 0);
  }

  it('maps every range in one native call to the kernel, in order, as map() would', function () {
    const before = calls.length;
    const mappings = container.mapMany([page(0), page(1), { ...page(5), write: false }]);
    // Besides the memlock reads for the lazy default window, one call to the kernel: the batch.
    assert.deepEqual(kernelCalls(calls.slice(before)), ['mapDmaBatch']);
    assert.deepEqual(
      mappings.map((m) => m.iova),
      [0x100000n, 0x101000n, 0x105000n],
    );
    assert.equal(mappings[2].writable, false);
    assert.equal(region.mappingCount, 3);
    assert.equal(container.translate(0x105010n)?.address, buffer.address + BigInt(5 * PAGE) + 16n);
    for (const m of mappings) m.unmap();
    assertBooksUntouched();
  });

  it('does nothing for an empty batch', function () {
    const before = calls.length;
    assert.deepEqual(container.mapMany([]), []);
    assert.deepEqual(calls.slice(before), []);
  });

  it('refuses a range over a live mapping, before the kernel, booking none', function () {
    const live = container.map(region, 0x103000n, { offset: 3 * PAGE, size: PAGE });
    assertRefusedBeforeKernel(
      calls,
      () => container.mapMany([page(0), page(1), page(3)]),
      MappingOverlapError,
    );
    assert.deepEqual(container.mappings(), [live]);
    assert.equal(region.mappingCount, 1);
    live.unmap();
  });

  it('refuses two ranges of the batch that overlap each other', function () {
    assertRefusedBeforeKernel(
      calls,
      () => container.mapMany([page(0), page(1), { ...page(1), offset: 2 * PAGE }]),
      MappingOverlapError,
    );
    assertBooksUntouched();
  });

  it('refuses unregistered memory, misaligned and out-of-window ranges', function () {
    const other = DmaBuffer.allocate(PAGE, { binding: kernel.binding() });
    assertRefusedBeforeKernel(
      calls,
      () => container.mapMany([page(0), { source: other, iova: 0x200000n }]),
      NotRegisteredError,
    );
    assertRefusedBeforeKernel(
      calls,
      () => container.mapMany([page(0), { ...page(1), iova: 0x101800n }]),
      AlignmentError,
    );
    assertRefusedBeforeKernel(
      calls,
      () => container.mapMany([page(0), { ...page(1), iova: 0x7ffff000n, size: 2 * PAGE }]),
      OutsideWindowError,
    );
    assertBooksUntouched();
    other.free();
  });

  it('refuses what is not an array of entries, or too long a one', function () {
    for (const bad of [undefined, null, page(0), 'x', [page(0), null], [page(0), {}]]) {
      assertRefusedBeforeKernel(calls, () => container.mapMany(bad as never), InvalidArgumentError);
    }
    const huge: unknown[] = [];
    huge.length = 2 ** 32 - 1;
    assertRefusedBeforeKernel(calls, () => container.mapMany(huge as never), ArgumentRangeError);
    assertBooksUntouched();
  });

  it('rolls back the ranges already mapped when the kernel refuses one', function () {
    container.close();
    buffer.free();
    // A kernel that maps two entries and then fails the third, like the real one stopping at
    // an entry it refuses.
    const fake = kernel.binding();
    let fail = true;
    const failing: NativeBinding = {
      ...fake,
      mapDmaBatch(fd, ranges) {
        if (!fail) return fake.mapDmaBatch(fd, ranges);
        fail = false;
        fake.mapDmaBatch(fd, ranges.subarray(0, 8));
        const error = new Error('ioctl VFIO_IOMMU_MAP_DMA failed: EIO') as NativeError;
        Object.assign(error, { code: 'EIO', errno: -5, syscall: 'ioctl', index: 2 });
        error.ioctl = 'VFIO_IOMMU_MAP_DMA';
        throw error;
      },
    };
    open(failing);
    const ioctlsBefore = kernel.ioctls.length;
    assert.throws(
      () => container.mapMany([page(0), page(1), page(2), page(3)]),
      (e: unknown) =>
        e instanceof VfioSystemError && e.code === 'EIO' && /entries\[2\] of 4/.test(e.message),
    );
    assert.deepEqual(kernel.ioctls.slice(ioctlsBefore), [
      'VFIO_IOMMU_MAP_DMA',
      'VFIO_IOMMU_MAP_DMA',
      'VFIO_IOMMU_UNMAP_DMA',
      'VFIO_IOMMU_UNMAP_DMA',
    ]);
    assertBooksUntouched();
    // The books are consistent: the same ranges map afterwards.
    const again = container.mapMany([page(0), page(1)]);
    assert.equal(again.length, 2);
    for (const m of again) m.unmap();
  });
});
