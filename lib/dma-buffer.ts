// DMA memory whose life the library owns: page-aligned mmap'd blocks exposed as ArrayBuffers.
// A buffer that is registered or mapped is held by the container's books (strong references),
// so the garbage collector cannot free it under a device, and free() refuses while it is in use.
import { nativeBinding, type BufferBacking, type NativeBinding } from './binding';
import { installDispose } from './dispose';
import { ArgumentRangeError, BufferInUseError, ClosedError, callNative } from './errors';
import { toIndex, toOneOf, toOptions, toSize, orDefault } from './validate';

export interface DmaBufferOptions {
  /** 'anonymous' (default), 'shared', 'hugetlb' or 'memfd'. */
  backing?: BufferBacking;
  /** For 'hugetlb': the huge page size in bytes (default: the kernel's default huge page). */
  hugePageSize?: number;
  /** The native binding to use (tests pass a fake). */
  binding?: NativeBinding;
}

const BACKINGS: readonly BufferBacking[] = ['anonymous', 'shared', 'hugetlb', 'memfd'];

export class DmaBuffer {
  readonly address: bigint;
  /** Length in bytes: the requested size rounded up to the backing page. */
  readonly size: number;
  /** @internal size as a bigint, converted once. */
  readonly bigSize: bigint;
  readonly backing: BufferBacking;
  /** The page size backing the memory; an IOMMU page mapping it may not be larger. */
  readonly backingPageSize: bigint;
  /** The memfd for 'memfd' backing (to share guest RAM with another process), else -1. */
  readonly fd: number;
  private arrayBuffer: ArrayBuffer | null;
  /** Registrations and mappings holding this buffer (a count: a Set costs a hash per map). */
  private holdCount = 0;

  private constructor(
    private readonly binding: NativeBinding,
    native: { buffer: ArrayBuffer; address: bigint; fd: number },
    backing: BufferBacking,
    backingPageSize: bigint,
  ) {
    this.arrayBuffer = native.buffer;
    this.address = native.address;
    this.size = native.buffer.byteLength;
    this.bigSize = BigInt(this.size);
    this.fd = native.fd;
    this.backing = backing;
    this.backingPageSize = backingPageSize;
  }

  /** Allocates `size` bytes (rounded up to the backing page), zero-filled and page-aligned. */
  static allocate(size: number | bigint, options?: DmaBufferOptions): DmaBuffer {
    const opts = toOptions<DmaBufferOptions>('options', options);
    const binding = opts.binding ?? nativeBinding();
    const backing = toOneOf('options.backing', orDefault(opts.backing, 'anonymous'), BACKINGS);
    let pageSize: number;
    if (backing === 'hugetlb') {
      pageSize =
        opts.hugePageSize === undefined
          ? binding.hugePageSize()
          : toIndex('options.hugePageSize', opts.hugePageSize, 2 ** 40);
      if (pageSize === 0) {
        throw new ArgumentRangeError('hugetlb backing asked for, but the kernel has no huge pages');
      }
    } else {
      if (opts.hugePageSize !== undefined) {
        throw new ArgumentRangeError('options.hugePageSize applies only to hugetlb backing');
      }
      pageSize = binding.pageSize();
    }
    const requested = toSize('size', size, { min: 1n });
    const rounded = ((requested + BigInt(pageSize) - 1n) / BigInt(pageSize)) * BigInt(pageSize);
    if (rounded > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new ArgumentRangeError(`size ${requested} is too large for one buffer`);
    }
    const native = callNative(`allocating a ${rounded}-byte ${backing} DMA buffer`, () =>
      binding.allocBuffer(Number(rounded), backing, backing === 'hugetlb' ? pageSize : undefined),
    );
    return new DmaBuffer(binding, native, backing, BigInt(pageSize));
  }

  /** The memory, as long as the buffer is not freed. */
  get buffer(): ArrayBuffer {
    if (this.arrayBuffer === null) throw new ClosedError({ what: 'DMA buffer' });
    return this.arrayBuffer;
  }

  /** A byte view over the whole buffer. */
  bytes(): Uint8Array {
    return new Uint8Array(this.buffer);
  }

  get freed(): boolean {
    return this.arrayBuffer === null;
  }

  /** True while registered or mapped somewhere. */
  get inUse(): boolean {
    return this.holdCount > 0;
  }

  /** Unmaps the memory; every view over it is detached. Refused while registered or mapped. */
  free(): void {
    if (this.arrayBuffer === null) return;
    if (this.inUse) {
      throw new BufferInUseError({ address: this.address, holders: this.holdCount });
    }
    const buffer = this.arrayBuffer;
    callNative('freeing a DMA buffer', () => this.binding.freeBuffer(buffer));
    this.arrayBuffer = null;
  }

  /** @internal A registration or mapping starts holding the buffer. */
  hold(): void {
    if (this.arrayBuffer === null) throw new ClosedError({ what: 'DMA buffer' });
    this.holdCount += 1;
  }

  /** @internal A registration or mapping that held the buffer is gone (once per hold()). */
  release(): void {
    if (this.holdCount > 0) this.holdCount -= 1;
  }
}

installDispose(DmaBuffer, 'free');
