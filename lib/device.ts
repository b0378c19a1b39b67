// A device fd: info, regions (config space, mmap'd BARs), interrupts and reset.
import type { IrqInfo, RegionCapability } from './binding';
import { installDispose } from './dispose';
import { ArgumentRangeError, VfioSystemError, callNative } from './errors';
import type { Group } from './group';
import { Handle } from './handle';
import { DeviceInterrupts } from './interrupts';
import { MmioRegion, type Endianness } from './mmio';
import { describe, toIndex, toOneOf, toOptions, toSize, orDefault } from './validate';

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

/** vfio-pci's fixed IRQ indexes, for Device.enableInterrupts. */
export const PCI_IRQ_INDEX = { intx: 0, msi: 1, msix: 2, err: 3, req: 4 } as const;

/** PCI command register: offset and the bits the library sets. */
const PCI_COMMAND = 0x04;
const PCI_COMMAND_MEMORY = 0x2;
const PCI_COMMAND_MASTER = 0x4;

export interface DeviceInfo {
  flags: number;
  regionCount: number;
  irqCount: number;
  /** VFIO_DEVICE_FLAGS_RESET: VFIO_DEVICE_RESET works. */
  resettable: boolean;
  isPci: boolean;
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
}

export type ConfigWidth = 8 | 16 | 32;

export class Device extends Handle {
  /** @internal */ readonly fd: number;
  private configOffset?: bigint;
  /** mmaps and interrupt routes of this device: an mmap keeps the device (and so the group) open. */
  private readonly mappedRegions = new Set<MmioRegion>();
  private readonly interruptRoutes = new Set<DeviceInterrupts>();

  private constructor(
    private readonly group: Group,
    readonly name: string,
  ) {
    super(group.binding, `device ${name}`);
    this.fd = callNative(`opening device ${name} of group ${group.number}`, () =>
      group.binding.groupGetDeviceFd(group.fd, name),
    );
  }

  /** @internal Use Group.openDevice. */
  static fromGroup(group: Group, name: string): Device {
    if (typeof name !== 'string' || name.length === 0 || name.length > 255 || name.includes('\0')) {
      throw new ArgumentRangeError(`device name must be a non-empty string such as '0000:01:00.0'`);
    }
    return new Device(group, name);
  }

  info(): DeviceInfo {
    this.assertUsable();
    const info = callNative(`reading the info of ${this.name}`, () =>
      this.binding.deviceGetInfo(this.fd),
    );
    const c = this.binding.constants;
    return {
      flags: info.flags,
      regionCount: info.numRegions,
      irqCount: info.numIrqs,
      resettable: (info.flags & c.VFIO_DEVICE_FLAGS_RESET) !== 0,
      isPci: (info.flags & c.VFIO_DEVICE_FLAGS_PCI) !== 0,
    };
  }

  region(index: number): DeviceRegion {
    this.assertUsable();
    const i = toIndex('index', index, 0xffff);
    const info = callNative(`reading region ${i} of ${this.name}`, () =>
      this.binding.deviceGetRegionInfo(this.fd, i),
    );
    const c = this.binding.constants;
    return {
      index: info.index,
      name: PCI_REGION_NAMES[info.index] ?? `REGION${info.index}`,
      size: info.size,
      offset: info.offset,
      flags: info.flags,
      readable: (info.flags & c.VFIO_REGION_INFO_FLAG_READ) !== 0,
      writable: (info.flags & c.VFIO_REGION_INFO_FLAG_WRITE) !== 0,
      mappable: (info.flags & c.VFIO_REGION_INFO_FLAG_MMAP) !== 0,
      capabilities: info.capabilities,
    };
  }

  /** Every region the device has: vfio-pci answers EINVAL for fixed indexes it lacks (VGA). */
  regions(): DeviceRegion[] {
    const regions: DeviceRegion[] = [];
    const count = this.info().regionCount;
    for (let index = 0; index < count; index += 1) {
      try {
        regions.push(this.region(index));
      } catch (error) {
        if (!(error instanceof VfioSystemError && error.code === 'EINVAL')) throw error;
      }
    }
    return regions;
  }

  irqInfo(index: number): IrqInfo {
    this.assertUsable();
    const i = toIndex('index', index, 0xffff);
    return callNative(`reading IRQ ${i} of ${this.name}`, () =>
      this.binding.deviceGetIrqInfo(this.fd, i),
    );
  }

  /** Reads `width` bits of PCI config space at `offset` (little-endian, as PCI defines it). */
  readConfig(offset: number, width: ConfigWidth = 32): number {
    const bytes = this.configAccess(offset, width);
    const data = new Uint8Array(bytes);
    this.transfer('pread', data, offset);
    return readLittleEndian(data);
  }

  writeConfig(offset: number, value: number, width: ConfigWidth = 32): void {
    const bytes = this.configAccess(offset, width);
    if (!Number.isInteger(value) || value < 0 || value >= 2 ** width) {
      throw new ArgumentRangeError(
        `value must be an integer in [0, 2^${width}), got ${describe(value)}`,
      );
    }
    const data = new Uint8Array(bytes);
    for (let i = 0; i < bytes; i += 1) data[i] = Math.floor(value / 2 ** (8 * i)) & 0xff;
    this.transfer('pwrite', data, offset);
  }

  /** Sets Memory Space and Bus Master in the command register: no DMA happens without it. */
  enableBusMaster(): void {
    const command = this.readConfig(PCI_COMMAND, 16);
    this.writeConfig(PCI_COMMAND, command | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 16);
  }

  disableBusMaster(): void {
    const command = this.readConfig(PCI_COMMAND, 16);
    this.writeConfig(PCI_COMMAND, command & ~PCI_COMMAND_MASTER, 16);
  }

  /** mmaps a region (a BAR) for MMIO; registers are accessed with the given byte order. */
  mapRegion(index: number, options?: { endianness?: Endianness }): MmioRegion {
    const opts = toOptions<{ endianness: Endianness }>('options', options);
    const endianness = toOneOf('options.endianness', orDefault(opts.endianness, 'little'), [
      'little',
      'big',
    ] as const);
    const region = this.region(index);
    if (!region.mappable) {
      throw new ArgumentRangeError(`region ${region.name} of ${this.name} cannot be mmap'd`);
    }
    if (region.size > BigInt(Number.MAX_SAFE_INTEGER) || region.size === 0n) {
      throw new ArgumentRangeError(`region ${region.name} has size ${region.size}: not mappable`);
    }
    const buffer = callNative(`mapping region ${region.name} of ${this.name}`, () =>
      this.binding.mmapRegion(this.fd, region.offset, Number(region.size), region.writable),
    );
    const mmio = new MmioRegion(
      this.binding,
      buffer,
      endianness,
      `${this.name} ${region.name}`,
      () => this.mappedRegions.delete(mmio),
    );
    this.mappedRegions.add(mmio);
    return mmio;
  }

  /** Routes the interrupts of `index` (MSI, MSI-X, INTx) to eventfds the library watches. */
  enableInterrupts(index: number, options?: { count?: number }): DeviceInterrupts {
    this.assertUsable();
    const i = toIndex('index', index, 0xffff);
    const opts = toOptions<{ count: number }>('options', options);
    const count = toIndex('options.count', orDefault(opts.count, 1), 2048);
    const info = this.irqInfo(i);
    if (count < 1 || count > info.count) {
      throw new ArgumentRangeError(
        `IRQ index ${i} of ${this.name} has ${info.count} vector(s), asked for ${count}`,
      );
    }
    const interrupts = DeviceInterrupts.enable(this.binding, this.fd, i, count, this.name, () =>
      this.interruptRoutes.delete(interrupts),
    );
    this.interruptRoutes.add(interrupts);
    return interrupts;
  }

  /** VFIO_DEVICE_RESET (function-level reset where the device has one). */
  reset(): void {
    this.assertUsable();
    callNative(`resetting ${this.name}`, () => this.binding.deviceReset(this.fd));
  }

  /** Unmaps its regions and stops its interrupts, then closes the device fd. */
  close(): void {
    if (!this.markClosed()) return;
    for (const interrupts of [...this.interruptRoutes]) interrupts.disable();
    for (const mmio of [...this.mappedRegions]) mmio.unmap();
    this.group.forgetDevice(this);
    callNative(`closing ${this.name}`, () => this.binding.closeFd(this.fd));
  }

  private configAccess(offset: number, width: ConfigWidth): number {
    this.assertUsable();
    toOneOf('width', width, [8, 16, 32] as const);
    const bytes = width / 8;
    const at = toIndex('offset', offset, 0xfff);
    if (at % bytes !== 0 || at + bytes > 0x1000) {
      throw new ArgumentRangeError(
        `config offset ${at} is not a ${width}-bit aligned offset below 4096`,
      );
    }
    return bytes;
  }

  private transfer(kind: 'pread' | 'pwrite', data: Uint8Array, offset: number): void {
    this.configOffset ??= this.region(this.binding.constants.VFIO_PCI_CONFIG_REGION_INDEX).offset;
    const at = this.configOffset + toSize('offset', offset);
    const done = callNative(`${kind} of config space of ${this.name}`, () =>
      this.binding[kind](this.fd, data, at),
    );
    if (done !== data.length) {
      throw new ArgumentRangeError(`${kind} of config space moved ${done} of ${data.length} bytes`);
    }
  }
}

function readLittleEndian(data: Uint8Array): number {
  return data.reduceRight((value, byte) => value * 256 + byte, 0);
}

installDispose(Device, 'close');
