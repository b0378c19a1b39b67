// MMIO over an mmap'd BAR: each access is one native load or store of the stated width,
// with POWER's ordering (a full sync before a store, as writel; readl's ordering after a
// load). A DataView over the BAR promises neither the width nor the order.
import type { MmioWidth, NativeBinding } from './binding';
import { installDispose } from './dispose';
import { ArgumentRangeError, ClosedError, InvalidArgumentError, callNative } from './errors';
import { describe } from './validate';

export type Endianness = 'little' | 'big';

export class MmioRegion {
  readonly size: number;
  private buffer: ArrayBuffer | null;
  private readonly bigEndian: boolean;

  /** @internal Use Device.mapRegion. */
  constructor(
    private readonly binding: NativeBinding,
    buffer: ArrayBuffer,
    readonly endianness: Endianness,
    private readonly what: string,
    private readonly onUnmap: () => void = () => undefined,
  ) {
    this.buffer = buffer;
    this.size = buffer.byteLength;
    this.bigEndian = endianness === 'big';
  }

  read8(offset: number): number {
    return Number(this.read(offset, 8));
  }
  read16(offset: number): number {
    return Number(this.read(offset, 16));
  }
  read32(offset: number): number {
    return Number(this.read(offset, 32));
  }
  read64(offset: number): bigint {
    return this.read(offset, 64);
  }
  write8(offset: number, value: number): void {
    this.write(offset, 8, value);
  }
  write16(offset: number, value: number): void {
    this.write(offset, 16, value);
  }
  write32(offset: number, value: number): void {
    this.write(offset, 32, value);
  }
  write64(offset: number, value: bigint): void {
    this.write(offset, 64, value);
  }

  /** Unmaps the BAR; later accesses throw ClosedError. */
  unmap(): void {
    if (this.buffer === null) return;
    const buffer = this.buffer;
    this.buffer = null;
    this.onUnmap();
    callNative(`unmapping ${this.what}`, () => this.binding.unmapRegion(buffer));
  }

  private read(offset: number, width: MmioWidth): bigint {
    const buffer = this.checked(offset, width);
    return callNative(`MMIO read of ${this.what}`, () =>
      this.binding.mmioRead(buffer, offset, width, this.bigEndian),
    );
  }

  private write(offset: number, width: MmioWidth, value: number | bigint): void {
    const buffer = this.checked(offset, width);
    const big = toRegisterValue(value, width);
    callNative(`MMIO write of ${this.what}`, () =>
      this.binding.mmioWrite(buffer, offset, width, big, this.bigEndian),
    );
  }

  private checked(offset: number, width: MmioWidth): ArrayBuffer {
    if (this.buffer === null) throw new ClosedError({ what: `MMIO mapping of ${this.what}` });
    const bytes = width / 8;
    if (!Number.isInteger(offset) || offset < 0 || offset + bytes > this.size || offset % bytes) {
      throw new ArgumentRangeError(
        `MMIO offset ${describe(offset)} is not a ${width}-bit aligned offset inside the ${this.size}-byte ${this.what}`,
      );
    }
    return this.buffer;
  }
}

function toRegisterValue(value: number | bigint, width: MmioWidth): bigint {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw new ArgumentRangeError(`MMIO value must be a safe integer, got ${value}`);
    }
    value = BigInt(value);
  } else if (typeof value !== 'bigint') {
    throw new InvalidArgumentError(`MMIO value must be a number or bigint, got ${typeof value}`);
  }
  if (value < 0n || value >= 1n << BigInt(width)) {
    throw new ArgumentRangeError(`MMIO value ${value} does not fit in ${width} bits`);
  }
  return value;
}

installDispose(MmioRegion, 'unmap');
