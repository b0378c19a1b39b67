// MMIO over an mmap'd BAR: each access is one native load or store of the stated width,
// with POWER's ordering (a full sync before a store, as writel; readl's ordering after a
// load). A DataView over the BAR promises neither the width nor the order. A region with
// sparse-mmap areas is mapped area by area; an access outside them is refused (the kernel traps
// those parts: they go through the device fd, Device.regionIo).
import type { MmioWidth, NativeBinding } from './binding';
import {
  checkRegister,
  toRegisterValue,
  type AccessTarget,
  type Endianness,
} from './device/access';
import { installDispose } from './dispose';
import type { DeviceRegion } from './device/regions';
import {
  ArgumentRangeError,
  ClosedError,
  RegionAccessError,
  UnmappedAreaError,
  callNative,
} from './errors';

export type { Endianness } from './device/access';

/** @internal One mmap'd part of a region. */
export interface MappedArea {
  /** Offset in the region. */
  offset: number;
  buffer: ArrayBuffer;
}

export class MmioRegion {
  /** The region's size in bytes (its mmap'd areas may cover less). */
  readonly size: number;
  private areasMapped: MappedArea[] | null;
  private readonly bigEndian: boolean;
  private readonly target: AccessTarget;

  /** @internal Use Device.mapRegion. */
  private constructor(
    private readonly binding: NativeBinding,
    areas: MappedArea[],
    size: number,
    readonly endianness: Endianness,
    where: { device: string; region: string },
    private readonly onUnmap: () => void = () => undefined,
  ) {
    this.areasMapped = areas;
    this.size = size;
    this.bigEndian = endianness === 'big';
    this.target = { ...where, size: BigInt(size) };
  }

  /**
   * @internal Use Device.mapRegion. mmaps what the kernel lets a process map of `region`: all
   * of it, or each of its sparse-mmap areas.
   */
  static map(
    binding: NativeBinding,
    fd: number,
    region: DeviceRegion,
    where: { device: string; endianness: Endianness },
    onUnmap: () => void,
  ): MmioRegion {
    if (!region.mappable || region.mmapAreas.length === 0) {
      throw new RegionAccessError({
        device: where.device,
        region: region.name,
        index: region.index,
        access: 'mmap',
        flags: region.flags,
      });
    }
    if (region.size > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new ArgumentRangeError(`region ${region.name} has size ${region.size}: not mappable`);
    }
    const areas: MappedArea[] = [];
    try {
      for (const area of region.mmapAreas) {
        const buffer = callNative(`mapping ${region.name} of ${where.device}`, () =>
          binding.mmapRegion(fd, region.offset + area.offset, Number(area.size), region.writable),
        );
        areas.push({ offset: Number(area.offset), buffer });
      }
    } catch (error) {
      for (const area of areas) binding.unmapRegion(area.buffer);
      throw error;
    }
    return new MmioRegion(
      binding,
      areas,
      Number(region.size),
      where.endianness,
      { device: where.device, region: region.name },
      onUnmap,
    );
  }

  /** The mmap'd parts of the region (offset and size): the whole region unless it is sparse. */
  get areas(): { offset: number; size: number }[] {
    return (this.areasMapped ?? []).map((a) => ({ offset: a.offset, size: a.buffer.byteLength }));
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
    if (this.areasMapped === null) return;
    const areas = this.areasMapped;
    this.areasMapped = null;
    this.onUnmap();
    for (const area of areas) {
      callNative(`unmapping ${this.target.region} of ${this.target.device}`, () =>
        this.binding.unmapRegion(area.buffer),
      );
    }
  }

  private read(offset: number, width: MmioWidth): bigint {
    const [buffer, at] = this.locate(offset, width);
    return callNative(`MMIO read of ${this.target.region} of ${this.target.device}`, () =>
      this.binding.mmioRead(buffer, at, width, this.bigEndian),
    );
  }

  private write(offset: number, width: MmioWidth, value: number | bigint): void {
    const [buffer, at] = this.locate(offset, width);
    const big = toRegisterValue(value, width);
    callNative(`MMIO write of ${this.target.region} of ${this.target.device}`, () =>
      this.binding.mmioWrite(buffer, at, width, big, this.bigEndian),
    );
  }

  /** The mapped area holding the access, and the offset in it. */
  private locate(offset: number, width: MmioWidth): [ArrayBuffer, number] {
    if (this.areasMapped === null) {
      throw new ClosedError({
        what: `MMIO mapping of ${this.target.region} of ${this.target.device}`,
      });
    }
    const at = Number(checkRegister(this.target, offset, width));
    const bytes = width / 8;
    for (const area of this.areasMapped) {
      if (at >= area.offset && at + bytes <= area.offset + area.buffer.byteLength) {
        return [area.buffer, at - area.offset];
      }
    }
    throw new UnmappedAreaError({
      device: this.target.device,
      region: this.target.region,
      offset: BigInt(at),
      width,
      areas: this.areas.map((a) => ({ offset: BigInt(a.offset), size: BigInt(a.size) })),
    });
  }
}

installDispose(MmioRegion, 'unmap');
