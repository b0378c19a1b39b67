// Device-visible memory for a driver's queues and data: one DMA buffer the device sees at
// one IOVA, handed out in page-aligned pieces. Either the caller registered and mapped the
// buffer (DmaArena.over), or DmaArena.map does it in the given container at the given IOVA,
// so the same driver runs in the default window or in a dynamic one.
import type { NativeBinding } from '../binding';
import type { Container } from '../container';
import { DmaBuffer } from '../dma-buffer';
import { ArgumentRangeError, ClosedError } from '../errors';
import type { Mapping } from '../mapping';
import type { Region } from '../region';

/** A piece of the arena: the bytes the CPU sees and the bus address the device uses. */
export interface DmaChunk {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly iova: bigint;
  readonly size: number;
}

export class DmaArena {
  private used = 0;
  private open = true;

  private constructor(
    readonly buffer: DmaBuffer,
    /** The bus address of the buffer's first byte. */
    readonly iova: bigint,
    private readonly undo: () => void,
  ) {}

  /** A buffer the caller registered (v2) and mapped whole at `iova`; close() leaves it alone. */
  static over(buffer: DmaBuffer, iova: bigint): DmaArena {
    return new DmaArena(buffer, iova, () => undefined);
  }

  /**
   * Allocates `size` bytes, registers them (v2) and maps them at `iova` in `container`;
   * close() unmaps, unregisters and frees. `iova` must lie in one of the container's windows
   * and be aligned to its IOMMU page.
   */
  static map(
    container: Container,
    iova: bigint,
    size: number,
    options: { binding?: NativeBinding } = {},
  ): DmaArena {
    const buffer = DmaBuffer.allocate(size, options);
    let region: Region | null = null;
    let mapping: Mapping | null = null;
    const undo = () => {
      mapping?.unmap();
      region?.unregister();
      buffer.free();
    };
    try {
      region = container.iommuType === 'v2' ? container.register(buffer) : null;
      mapping = container.map(region ?? buffer, iova);
    } catch (error) {
      undo();
      throw error;
    }
    return new DmaArena(buffer, iova, undo);
  }

  /** Bytes not yet handed out. */
  get free(): number {
    return this.buffer.size - this.used;
  }

  /** The next `size` bytes at an offset aligned to `align` (a power of two), zero-filled. */
  take(size: number, align = 4096): DmaChunk {
    if (!this.open) throw new ClosedError({ what: 'DMA arena' });
    const start = Math.ceil(this.used / align) * align;
    if (!Number.isInteger(size) || size <= 0 || start + size > this.buffer.size) {
      throw new ArgumentRangeError(
        `the DMA arena at IOVA 0x${this.iova.toString(16)} has ${this.buffer.size - start} ` +
          `bytes left at ${align}-byte alignment, asked for ${size}: allocate a larger one`,
      );
    }
    this.used = start + size;
    const bytes = new Uint8Array(this.buffer.buffer, start, size);
    bytes.fill(0);
    return {
      bytes,
      view: new DataView(this.buffer.buffer, start, size),
      iova: this.iova + BigInt(start),
      size,
    };
  }

  /** Gives back what DmaArena.map took (the caller's buffer for DmaArena.over is left alone). */
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.undo();
  }
}
