import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DriverBindError, InvalidBdfError, Sysfs } from '../../lib';

/** A sysfs-shaped tree: groups 0 (edu on vfio-pci), 1 (edu, no driver), 2 (nvme on nvme). */
function fakeSysfs(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-sysfs-'));
  const mk = (p: string) => fs.mkdirSync(path.join(root, p), { recursive: true });
  const devices = [
    {
      bdf: '0000:01:00.0',
      group: 0,
      vendor: '0x1234',
      device: '0x11e8',
      cls: '0x00ff00',
      driver: 'vfio-pci',
    },
    {
      bdf: '0001:01:00.0',
      group: 1,
      vendor: '0x1234',
      device: '0x11e8',
      cls: '0x00ff00',
      driver: null,
    },
    {
      bdf: '0002:01:00.0',
      group: 2,
      vendor: '0x1b36',
      device: '0x0010',
      cls: '0x010802',
      driver: 'nvme',
    },
  ];
  mk('bus/pci/drivers/vfio-pci');
  mk('bus/pci/drivers/nvme');
  for (const d of devices) {
    const dev = `bus/pci/devices/${d.bdf}`;
    mk(dev);
    fs.writeFileSync(path.join(root, dev, 'vendor'), `${d.vendor}\n`);
    fs.writeFileSync(path.join(root, dev, 'device'), `${d.device}\n`);
    fs.writeFileSync(path.join(root, dev, 'class'), `${d.cls}\n`);
    fs.writeFileSync(path.join(root, dev, 'driver_override'), '(null)\n');
    mk(`kernel/iommu_groups/${d.group}/devices`);
    fs.symlinkSync(
      path.join(root, 'kernel/iommu_groups', String(d.group)),
      path.join(root, dev, 'iommu_group'),
    );
    fs.symlinkSync(
      path.join(root, dev),
      path.join(root, `kernel/iommu_groups/${d.group}/devices/${d.bdf}`),
    );
    if (d.driver)
      fs.symlinkSync(path.join(root, 'bus/pci/drivers', d.driver), path.join(root, dev, 'driver'));
  }
  return root;
}

describe('sysfs host helpers', function () {
  let root: string;
  let sysfs: Sysfs;
  beforeEach(function () {
    root = fakeSysfs();
    sysfs = new Sysfs({ root });
  });
  afterEach(function () {
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('lists groups, devices, drivers and viability', function () {
    const groups = sysfs.listIommuGroups();
    assert.deepEqual(
      groups.map((g) => [
        g.group,
        g.viable,
        g.devices.map((d) => `${d.bdf} ${d.vendor}:${d.device} ${d.driver}`),
      ]),
      [
        [0, true, ['0000:01:00.0 1234:11e8 vfio-pci']],
        [1, true, ['0001:01:00.0 1234:11e8 null']],
        [2, false, ['0002:01:00.0 1b36:0010 nvme']],
      ],
    );
    assert.equal(groups[2].devices[0].class, '0x010802');
    assert.equal(groups[2].devices[0].iommuGroup, 2);
  });

  it('returns no groups where the kernel has no IOMMU groups', function () {
    assert.deepEqual(new Sysfs({ root: path.join(root, 'nowhere') }).listIommuGroups(), []);
  });

  it('refuses malformed addresses before touching any file', function () {
    assert.throws(() => sysfs.bindToVfioPci('../../../etc/passwd'), InvalidBdfError);
    assert.throws(() => sysfs.deviceInfo('0000:01:00.0; rm -rf /'), InvalidBdfError);
    assert.throws(() => sysfs.unbindFromVfioPci('0000:01:00.0', '../x'), DriverBindError);
  });

  it('names a device that does not exist', function () {
    assert.throws(() => sysfs.deviceInfo('0000:09:00.0'), /no PCI device 0000:09:00.0/);
  });

  it('writes driver_override and reports a bind that did not take', function () {
    // A fake tree has no kernel behind it: the write happens, the driver link does not change.
    assert.throws(
      () => sysfs.bindToVfioPci('0002:01:00.0'),
      /did not bind to vfio-pci \(driver now: nvme\)/,
    );
    const override = fs.readFileSync(
      path.join(root, 'bus/pci/devices/0002:01:00.0/driver_override'),
      'utf8',
    );
    assert.equal(override, 'vfio-pci');
  });

  it('says when vfio-pci is not loaded', function () {
    fs.rmSync(path.join(root, 'bus/pci/drivers/vfio-pci'), { recursive: true });
    assert.throws(() => sysfs.bindToVfioPci('0002:01:00.0'), /modprobe vfio-pci/);
  });

  it('leaves a device already on vfio-pci alone', function () {
    assert.equal(sysfs.bindToVfioPci('0000:01:00.0'), 'vfio-pci');
  });
});
