// Sysfs- and procfs-shaped trees in a temporary directory, for host tests of the code that
// reads and writes them. There is no kernel behind them: a write lands in a plain file and
// no driver link moves, so a test sees exactly what was written where.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface FakePciDevice {
  bdf: string;
  group: number;
  /** '0x1234' */
  vendor: string;
  device: string;
  class: string;
  driver: string | null;
}

export const EDU = { vendor: '0x1234', device: '0x11e8', class: '0x00ff00' };
export const NVME = { vendor: '0x1b36', device: '0x0010', class: '0x010802' };

export class FakeSysfs {
  readonly root = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-fake-sysfs-'));

  constructor(devices: FakePciDevice[], drivers: string[] = ['vfio-pci']) {
    for (const name of new Set([...drivers, ...devices.flatMap((d) => d.driver ?? [])])) {
      this.mkdir(`bus/pci/drivers/${name}`);
    }
    this.write('bus/pci/drivers_probe', '');
    for (const d of devices) this.add(d);
  }

  add(d: FakePciDevice): void {
    const dev = `bus/pci/devices/${d.bdf}`;
    const group = `kernel/iommu_groups/${d.group}`;
    this.mkdir(dev);
    this.mkdir(`${group}/devices`);
    for (const [file, value] of [
      ['vendor', d.vendor],
      ['device', d.device],
      ['class', d.class],
      ['driver_override', '(null)'],
    ]) {
      this.write(`${dev}/${file}`, `${value}\n`);
    }
    fs.symlinkSync(this.path(group), this.path(`${dev}/iommu_group`));
    fs.symlinkSync(this.path(dev), this.path(`${group}/devices/${d.bdf}`));
    if (d.driver)
      fs.symlinkSync(this.path(`bus/pci/drivers/${d.driver}`), this.path(`${dev}/driver`));
  }

  path(relative: string): string {
    return path.join(this.root, relative);
  }

  read(relative: string): string | null {
    try {
      return fs.readFileSync(this.path(relative), 'utf8');
    } catch {
      return null;
    }
  }

  write(relative: string, value: string): void {
    fs.writeFileSync(this.path(relative), value);
  }

  private mkdir(relative: string): void {
    fs.mkdirSync(this.path(relative), { recursive: true });
  }

  remove(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** A /proc with processes holding files open: pid -> [comm, open paths]. */
export function fakeProc(processes: Record<number, [string, string[]]>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-fake-proc-'));
  for (const [pid, [comm, files]] of Object.entries(processes)) {
    fs.mkdirSync(path.join(root, pid, 'fd'), { recursive: true });
    fs.writeFileSync(path.join(root, pid, 'comm'), `${comm}\n`);
    files.forEach((file, i) => fs.symlinkSync(file, path.join(root, pid, 'fd', String(i + 3))));
  }
  return root;
}
