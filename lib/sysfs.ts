// Host side, through sysfs: IOMMU groups and their devices, current drivers, and moving
// devices to and from vfio-pci with driver_override. No shell is ever run: every path is
// built from a validated PCI address and written with fs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DriverBindError, InvalidBdfError } from './errors';
import { describe } from './validate';

const BDF_PATTERN = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$/;

/**
 * Drivers under which a device does not make its group unusable through VFIO: vfio-pci
 * itself, and the drivers the kernel marks driver_managed_dma (they do no DMA of their own).
 */
export const VFIO_COMPATIBLE_DRIVERS: readonly string[] = ['vfio-pci', 'pci-stub', 'pcieport'];

function isVfioCompatible(driver: string | null): boolean {
  return driver === null || VFIO_COMPATIBLE_DRIVERS.includes(driver);
}

export interface PciDeviceInfo {
  bdf: string;
  /** '1234' */
  vendor: string;
  /** '11e8' */
  device: string;
  /** '0x00ff00' */
  class: string;
  /** The bound driver's name, or null. */
  driver: string | null;
  iommuGroup: number | null;
}

export interface IommuGroupInfo {
  group: number;
  devices: PciDeviceInfo[];
  /** Every device is bound to vfio-pci, a driver_managed_dma driver or none: usable through VFIO. */
  viable: boolean;
}

export interface SysfsOptions {
  /** Where sysfs is mounted (default '/sys'); tests point it at a fake tree. */
  root?: string;
}

/** Checks and normalises a PCI address (DDDD:BB:DD.F); a bare BB:DD.F gets domain 0000. */
export function parseBdf(bdf: unknown): string {
  if (typeof bdf !== 'string') throw new InvalidBdfError({ value: describe(bdf) });
  const full = /^[0-9a-fA-F]{2}:/.test(bdf) && bdf.length === 7 ? `0000:${bdf}` : bdf;
  const normal = full.toLowerCase();
  if (!BDF_PATTERN.test(normal)) throw new InvalidBdfError({ value: bdf });
  return normal;
}

export class Sysfs {
  private readonly root: string;

  constructor(options: SysfsOptions = {}) {
    this.root = options.root ?? '/sys';
  }

  private devicePath(bdf: string, ...rest: string[]): string {
    return path.join(this.root, 'bus', 'pci', 'devices', parseBdf(bdf), ...rest);
  }

  /** Every IOMMU group with its devices, sorted by group number. */
  listIommuGroups(): IommuGroupInfo[] {
    const groupsDir = path.join(this.root, 'kernel', 'iommu_groups');
    let names: string[];
    try {
      names = fs.readdirSync(groupsDir);
    } catch {
      return [];
    }
    return names
      .filter((name) => /^\d+$/.test(name))
      .map(Number)
      .sort((a, b) => a - b)
      .map((group) => {
        const devices = fs
          .readdirSync(path.join(groupsDir, String(group), 'devices'))
          .filter((name) => BDF_PATTERN.test(name))
          .sort()
          .map((bdf) => this.deviceInfo(bdf));
        const viable = devices.every((d) => isVfioCompatible(d.driver));
        return { group, devices, viable };
      });
  }

  deviceInfo(bdf: string): PciDeviceInfo {
    const id = parseBdf(bdf);
    if (!fs.existsSync(this.devicePath(id))) {
      throw new DriverBindError({ device: null, problem: `no PCI device ${id} on this host` });
    }
    const read = (file: string) => fs.readFileSync(this.devicePath(id, file), 'utf8').trim();
    return {
      bdf: id,
      vendor: read('vendor').replace(/^0x/, ''),
      device: read('device').replace(/^0x/, ''),
      class: read('class'),
      driver: this.driverOf(id),
      iommuGroup: this.groupOf(id),
    };
  }

  driverOf(bdf: string): string | null {
    try {
      return path.basename(fs.readlinkSync(this.devicePath(bdf, 'driver')));
    } catch {
      return null;
    }
  }

  groupOf(bdf: string): number | null {
    try {
      return Number(path.basename(fs.readlinkSync(this.devicePath(bdf, 'iommu_group'))));
    } catch {
      return null;
    }
  }

  /**
   * Moves a device to vfio-pci: driver_override, unbind from the current driver, reprobe.
   * Returns the driver it had before (null if none), to give back on unbind.
   */
  bindToVfioPci(bdf: string): string | null {
    const id = parseBdf(bdf);
    this.deviceInfo(id);
    if (!fs.existsSync(path.join(this.root, 'bus', 'pci', 'drivers', 'vfio-pci'))) {
      throw new DriverBindError({
        device: null,
        problem: 'the vfio-pci driver is not loaded: modprobe vfio-pci',
      });
    }
    const previous = this.driverOf(id);
    if (previous === 'vfio-pci') return previous;
    this.write(this.devicePath(id, 'driver_override'), 'vfio-pci');
    if (previous !== null) this.write(this.devicePath(id, 'driver', 'unbind'), id);
    this.write(path.join(this.root, 'bus', 'pci', 'drivers_probe'), id);
    const now = this.driverOf(id);
    if (now !== 'vfio-pci') {
      throw new DriverBindError({
        device: null,
        problem:
          `${id} did not bind to vfio-pci (driver now: ${now ?? 'none'}); see dmesg. Kernels ` +
          '6.0 to 6.1 fail vfio-pci probe on powernv with -EINVAL: use 6.12 or later',
      });
    }
    return previous;
  }

  /**
   * The other devices of `bdf`'s IOMMU group that are bound to a host driver (not vfio-pci
   * nor a driver_managed_dma one): while any is, the group cannot be used through VFIO.
   */
  hostBoundPeers(bdf: string): PciDeviceInfo[] {
    const id = parseBdf(bdf);
    const group = this.deviceInfo(id).iommuGroup;
    if (group === null) return [];
    const members = path.join(this.root, 'kernel', 'iommu_groups', String(group), 'devices');
    return fs
      .readdirSync(members)
      .filter((name) => BDF_PATTERN.test(name) && name !== id)
      .sort()
      .map((peer) => this.deviceInfo(peer))
      .filter((peer) => !isVfioCompatible(peer.driver));
  }

  /**
   * Takes a device from vfio-pci and gives it back to `restore`; with no driver to restore,
   * lets the kernel reprobe (the default) or, with `reprobe: false`, leaves it unbound.
   */
  unbindFromVfioPci(
    bdf: string,
    restore: string | null = null,
    options: { reprobe?: boolean } = {},
  ): string | null {
    const id = parseBdf(bdf);
    this.deviceInfo(id);
    if (
      restore !== null &&
      (typeof restore !== 'string' ||
        !/^[A-Za-z0-9_.-]+$/.test(restore) ||
        restore === '.' ||
        restore === '..')
    ) {
      // A path component of bus/pci/drivers/: '..' would write to bus/pci/bind.
      throw new DriverBindError({
        device: null,
        problem: `${describe(restore)} is not a driver name`,
      });
    }
    this.write(this.devicePath(id, 'driver_override'), '\n');
    if (this.driverOf(id) !== null) this.write(this.devicePath(id, 'driver', 'unbind'), id);
    if (restore !== null) {
      this.write(path.join(this.root, 'bus', 'pci', 'drivers', restore, 'bind'), id);
    } else if (options.reprobe ?? true) {
      this.write(path.join(this.root, 'bus', 'pci', 'drivers_probe'), id);
    }
    return this.driverOf(id);
  }

  private write(file: string, value: string): void {
    try {
      fs.writeFileSync(file, value);
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      const remedy = e.code === 'EACCES' || e.code === 'EPERM' ? ' (needs root)' : '';
      throw new DriverBindError({
        device: null,
        problem: `writing ${JSON.stringify(value.trim())} to ${file} failed: ${e.code ?? e.message}${remedy}`,
      });
    }
  }
}
