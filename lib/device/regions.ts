// A device's regions: what the kernel says of each (size, offset in the device fd, access flags,
// capabilities), which parts a process may mmap and which a VMM must trap, and register and
// byte access through the device fd (pread/pwrite), for every region including those that
// cannot be mmap'd (ROM, I/O ports, a sparse BAR's trapped parts).
import type {
  MmioWidth,
  NativeBinding,
  NativeConstants,
  RegionCapability,
  RegionInfo,
} from '../binding';
import { ArgumentRangeError, RegionAccessError, ShortTransferError, callNative } from '../errors';
import {
  checkRange,
  checkRegister,
  decodeRegister,
  encodeRegister,
  toOffset,
  toRegisterValue,
  type AccessTarget,
  type Endianness,
} from './access';

/** vfio-pci's fixed region indexes. */
export const PCI_REGION_NAMES = [
  'BAR0',
  'BAR1',
  'BAR2',
  'BAR3',
  'BAR4',
  'BAR5',
  'ROM',
  'CONFIG',
  'VGA',
];

export interface RegionArea {
  /** Offset in the region. */
  offset: bigint;
  size: bigint;
}

/** A part of a region a VMM must trap (emulate) rather than map into its guest. */
export interface TrappedArea extends RegionArea {
  /**
   * 'not-mmappable': the kernel does not let it be mmap'd (a region without the MMAP flag, or
   * outside its sparse-mmap areas); 'msix-table', 'msix-pba': the device's MSI-X table and
   * pending bits, which the host kernel programs (reads through the fd see 0xff there).
   */
  reason: 'not-mmappable' | 'msix-table' | 'msix-pba';
}

export interface DeviceRegion {
  index: number;
  /** 'BAR0'..'BAR5', 'ROM', 'CONFIG', 'VGA' for vfio-pci; 'REGION<n>' beyond. */
  name: string;
  size: bigint;
  /** Offset of the region in the device fd (for pread/pwrite/mmap). */
  offset: bigint;
  flags: number;
  readable: boolean;
  writable: boolean;
  mappable: boolean;
  capabilities: RegionCapability[];
  /** What may be mmap'd: the whole region, its sparse-mmap areas, or nothing. */
  mmapAreas: RegionArea[];
}

export function decodeRegion(c: NativeConstants, info: RegionInfo): DeviceRegion {
  const mappable = (info.flags & c.VFIO_REGION_INFO_FLAG_MMAP) !== 0;
  const sparse = info.capabilities.find((cap) => cap.kind === 'sparse-mmap');
  let mmapAreas: RegionArea[] = [];
  if (mappable && sparse?.kind === 'sparse-mmap') {
    mmapAreas = sparse.areas
      .filter((a) => a.size > 0n && a.offset + a.size <= info.size)
      .map((a) => ({ offset: a.offset, size: a.size }))
      .sort((a, b) => (a.offset < b.offset ? -1 : 1));
  } else if (mappable && info.size > 0n) {
    mmapAreas = [{ offset: 0n, size: info.size }];
  }
  return {
    index: info.index,
    name: PCI_REGION_NAMES[info.index] ?? `REGION${info.index}`,
    size: info.size,
    offset: info.offset,
    flags: info.flags,
    readable: (info.flags & c.VFIO_REGION_INFO_FLAG_READ) !== 0,
    writable: (info.flags & c.VFIO_REGION_INFO_FLAG_WRITE) !== 0,
    mappable,
    capabilities: info.capabilities,
    mmapAreas,
  };
}

/** Where the PCI MSI-X capability puts the table and the PBA. */
export interface MsixLayout {
  vectors: number;
  table: { bar: number; offset: bigint; size: bigint };
  pba: { bar: number; offset: bigint; size: bigint };
}

const PCI_STATUS = 0x06;
const PCI_STATUS_CAP_LIST = 0x10;
const PCI_CAPABILITY_LIST = 0x34;
const PCI_CAP_ID_MSIX = 0x11;

/** Walks the config space capability list for MSI-X; null when the device has none. */
export function readMsixLayout(
  read: (offset: number, width: 8 | 16 | 32) => number,
): MsixLayout | null {
  if (!(read(PCI_STATUS, 16) & PCI_STATUS_CAP_LIST)) return null;
  let at = read(PCI_CAPABILITY_LIST, 8) & 0xfc;
  // 48 capabilities fit in the 192 bytes after the header: a longer walk is a loop.
  for (let step = 0; at >= 0x40 && step < 48; step += 1) {
    if (read(at, 8) === PCI_CAP_ID_MSIX) {
      const vectors = (read(at + 2, 16) & 0x7ff) + 1;
      const table = read(at + 4, 32);
      const pba = read(at + 8, 32);
      return {
        vectors,
        table: { bar: table & 7, offset: BigInt((table & ~7) >>> 0), size: BigInt(vectors * 16) },
        pba: {
          bar: pba & 7,
          offset: BigInt((pba & ~7) >>> 0),
          size: BigInt(Math.ceil(vectors / 64) * 8),
        },
      };
    }
    at = read(at + 1, 8) & 0xfc;
  }
  return null;
}

/** The parts of a region a VMM must trap: what cannot be mmap'd, and the MSI-X structures. */
export function trappedAreas(region: DeviceRegion, msix: MsixLayout | null): TrappedArea[] {
  const areas: TrappedArea[] = [];
  let next = 0n;
  for (const area of region.mmapAreas) {
    if (area.offset > next)
      areas.push({ offset: next, size: area.offset - next, reason: 'not-mmappable' });
    if (area.offset + area.size > next) next = area.offset + area.size;
  }
  if (next < region.size)
    areas.push({ offset: next, size: region.size - next, reason: 'not-mmappable' });
  for (const [part, reason] of [
    [msix?.table, 'msix-table'],
    [msix?.pba, 'msix-pba'],
  ] as const) {
    if (part?.bar === region.index) areas.push({ offset: part.offset, size: part.size, reason });
  }
  return areas.sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
}

/**
 * Register and byte access to one region through the device fd (pread/pwrite): what a VMM
 * does for the parts it traps. A register access moves its width in one piece (vfio-pci
 * splits only misaligned accesses, which are refused here). Every check is made first:
 * nothing is read or written when one fails.
 */
export class RegionIo {
  private readonly target: AccessTarget;
  private readonly bigEndian: boolean;

  /** @internal Use Device.regionIo. */
  constructor(
    private readonly binding: NativeBinding,
    /** The device fd, after the device's own checks (closed, forked). */
    private readonly fd: () => number,
    readonly region: DeviceRegion,
    device: string,
    readonly endianness: Endianness,
  ) {
    this.target = { device, region: region.name, size: region.size };
    this.bigEndian = endianness === 'big';
  }

  read8(offset: number | bigint): number {
    return Number(this.read(offset, 8));
  }
  read16(offset: number | bigint): number {
    return Number(this.read(offset, 16));
  }
  read32(offset: number | bigint): number {
    return Number(this.read(offset, 32));
  }
  read64(offset: number | bigint): bigint {
    return this.read(offset, 64);
  }
  write8(offset: number | bigint, value: number): void {
    this.write(offset, 8, value);
  }
  write16(offset: number | bigint, value: number): void {
    this.write(offset, 16, value);
  }
  write32(offset: number | bigint, value: number): void {
    this.write(offset, 32, value);
  }
  write64(offset: number | bigint, value: bigint): void {
    this.write(offset, 64, value);
  }

  /** `length` bytes from `offset`, as the device fd returns them (the kernel picks the widths). */
  readBytes(offset: number | bigint, length: number): Uint8Array {
    if (!Number.isSafeInteger(length) || length < 0 || length > 0x7fffffff) {
      throw new ArgumentRangeError(`length must be an integer in [0, 2^31), got ${length}`);
    }
    const at = toOffset(offset);
    this.allow('read');
    checkRange(this.target, at, BigInt(length));
    const bytes = new Uint8Array(length);
    if (length > 0) this.transfer('read', bytes, at);
    return bytes;
  }

  writeBytes(offset: number | bigint, bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) {
      throw new ArgumentRangeError('bytes must be a Uint8Array');
    }
    const at = toOffset(offset);
    this.allow('write');
    checkRange(this.target, at, BigInt(bytes.length));
    if (bytes.length > 0) this.transfer('write', bytes, at);
  }

  /** One register of `width` bits. */
  read(offset: number | bigint, width: MmioWidth): bigint {
    const at = checkRegister(this.target, offset, width);
    this.allow('read');
    const bytes = new Uint8Array(width / 8);
    this.transfer('read', bytes, at);
    return decodeRegister(bytes, this.bigEndian);
  }

  write(offset: number | bigint, width: MmioWidth, value: number | bigint): void {
    const at = checkRegister(this.target, offset, width);
    const big = toRegisterValue(value, width);
    this.allow('write');
    this.transfer('write', encodeRegister(big, width, this.bigEndian), at);
  }

  private allow(access: 'read' | 'write'): void {
    if (access === 'read' ? this.region.readable : this.region.writable) return;
    throw new RegionAccessError({
      device: this.target.device,
      region: this.region.name,
      index: this.region.index,
      access,
      flags: this.region.flags,
    });
  }

  private transfer(direction: 'read' | 'write', bytes: Uint8Array, at: bigint): void {
    const fd = this.fd();
    const where = this.region.offset + at;
    const done = callNative(
      () => `${direction} of ${this.region.name} of ${this.target.device} at 0x${at.toString(16)}`,
      () =>
        direction === 'read'
          ? this.binding.pread(fd, bytes, where)
          : this.binding.pwrite(fd, bytes, where),
    );
    if (done !== bytes.length) {
      throw new ShortTransferError({
        device: this.target.device,
        region: this.region.name,
        direction,
        offset: at,
        requested: bytes.length,
        transferred: done,
      });
    }
  }
}
