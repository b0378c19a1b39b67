// What the guest offers the VM suite: the kernel, its page size, and the devices the rig
// bound to vfio-pci (two edu devices on two PHBs, one NVMe controller), found through sysfs.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { Sysfs, type PciDeviceInfo } from '../../lib';
import { nativeBinding } from '../../lib/binding';

export interface GuestDevice {
  bdf: string;
  group: number;
}

export interface Guest {
  kernel: string;
  pageSize: number;
  /** The POWER generation of the emulated machine (8: PHB3 host bridges, 9: PHB4). */
  power: number;
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
    power: Number(/^cpu\s*:\s*POWER(\d+)/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1]),
    edu: onVfio(devices, '1234', '11e8'),
    nvme: onVfio(devices, '1b36', '0010'),
  };
  assert.ok(cached.power === 8 || cached.power === 9, `POWER8 or POWER9, got ${cached.power}`);
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

/** MemAvailable from /proc/meminfo, in bytes. */
export function memAvailable(): bigint {
  const line = /MemAvailable:\s+(\d+) kB/.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
  return BigInt(line?.[1] ?? 0) * 1024n;
}

/**
 * Asserts that a killed process's memory came back: MemAvailable within slack of the baseline.
 * The dead process's mm is torn down asynchronously (seen: 100 MiB still out 300 ms after the
 * group reopened), so this waits up to 20 s before failing.
 */
export async function assertMemoryReturns(baseline: bigint, slack: bigint): Promise<void> {
  const missing = () => baseline - memAvailable();
  for (let waited = 0; missing() >= slack && waited < 20000; waited += 200) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const MiB = 1n << 20n;
  assert.ok(missing() < slack, `memory returned (${missing() / MiB} MiB still missing after 20 s)`);
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
