// What the guest offers the VM suite: the kernel, its page size, and the devices the rig
// bound to vfio-pci (two edu devices on two PHBs, one NVMe controller), found through sysfs.
import * as os from 'node:os';
import { nativeBinding, Sysfs, type PciDeviceInfo } from '../../lib';

export interface GuestDevice {
  bdf: string;
  group: number;
}

export interface Guest {
  kernel: string;
  pageSize: number;
  edu: GuestDevice[];
  nvme: GuestDevice[];
}

function onVfio(devices: PciDeviceInfo[], vendor: string, device: string): GuestDevice[] {
  return devices
    .filter((d) => d.vendor === vendor && d.device === device && d.driver === 'vfio-pci')
    .map((d) => ({ bdf: d.bdf, group: d.iommuGroup as number }));
}

let cached: Guest | undefined;

export function guest(): Guest {
  if (cached) return cached;
  const devices = new Sysfs().listIommuGroups().flatMap((g) => g.devices);
  cached = {
    kernel: os.release(),
    pageSize: nativeBinding().pageSize(),
    edu: onVfio(devices, '1234', '11e8'),
    nvme: onVfio(devices, '1b36', '0010'),
  };
  if (cached.edu.length < 2) {
    throw new Error(
      `the rig should bind two edu devices to vfio-pci; found ${JSON.stringify(devices)}`,
    );
  }
  return cached;
}

/** VmLck of this process, in bytes. */
export function vmLocked(): bigint {
  return nativeBinding().vmLockedBytes();
}

/** Root-level banner so the suite's output names the kernel and page size it ran on. */
before(function () {
  const g = guest();
  console.log(
    `  guest kernel ${g.kernel}, ${g.pageSize / 1024}K pages, addon ${nativeBinding().targetArch}, ` +
      `node ${process.version}; edu ${g.edu.map((d) => `${d.bdf}=group ${d.group}`).join(', ')}; ` +
      `nvme ${g.nvme.map((d) => `${d.bdf}=group ${d.group}`).join(', ') || 'none'}`,
  );
});
