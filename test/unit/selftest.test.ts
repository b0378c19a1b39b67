// `vfio-spapr selftest` against fakes: the devices it refuses before opening anything, and an
// NVMe controller that never becomes ready (the fake BAR is plain memory): a typed error, and
// nothing left open or locked. The test proper runs against QEMU's devices in the VM suite.
import { strict as assert } from 'node:assert';
import type { CliContext } from '../../lib/cli/context';
import { FakeKernel } from '../support/fake-binding';
import { EDU, FakeSysfs, NVME } from '../support/fake-sysfs';
import { cli } from '../support/run-cli';

const NIC = { vendor: '0x8086', device: '0x10d3', class: '0x020000' };

describe('vfio-spapr selftest (fakes)', function () {
  let sysfs: FakeSysfs;
  let kernel: FakeKernel;
  let context: Partial<CliContext>;

  beforeEach(function () {
    sysfs = new FakeSysfs(
      [
        { bdf: '0000:01:00.0', group: 0, ...NVME, driver: 'vfio-pci' },
        { bdf: '0001:01:00.0', group: 1, ...NIC, driver: 'vfio-pci' },
        { bdf: '0002:01:00.0', group: 2, ...NVME, driver: 'nvme' },
        { bdf: '0003:01:00.0', group: 3, ...EDU, driver: null },
      ],
      ['vfio-pci', 'nvme'],
    );
    kernel = new FakeKernel({ pageSize: 65536, capIpcLock: true });
    context = { binding: kernel.binding(), sysfsRoot: sysfs.root };
  });
  afterEach(function () {
    sysfs.remove();
  });

  it('refuses a device class it does not know: exit 2, the code, what it knows', async function () {
    const run = await cli(['selftest', '0001:01:00.0', '--json'], context);
    assert.equal(run.code, 2);
    assert.equal(
      run.err,
      'vfio-spapr selftest: ERR_VFIO_UNSUPPORTED_DEVICE: 0001:01:00.0 is 8086:10d3, PCI class ' +
        "0x020000: the self-test knows NVMe controllers (class 0x010802) and QEMU's edu device " +
        '(1234:11e8); name one of those (see `vfio-spapr list`)',
    );
    assert.equal(run.json<{ error: { code: string } }>().error.code, 'ERR_VFIO_UNSUPPORTED_DEVICE');
    assert.deepEqual(kernel.ioctls, []);
  });

  it('refuses an NVMe controller its host driver holds: exit 1, how to hand it over', async function () {
    const run = await cli(['selftest', '0002:01:00.0'], context);
    assert.equal(run.code, 1);
    assert.match(
      run.err,
      /^vfio-spapr selftest: ERR_VFIO_DRIVER_BIND: 0002:01:00\.0 \(nvme\) is held by the host driver nvme, not vfio-pci: .*no mounted filesystem.* run `vfio-spapr bind 0002:01:00\.0` as root$/,
    );
    assert.deepEqual(kernel.ioctls, []);
  });

  it('refuses an edu device on no driver, and an address with no device', async function () {
    const unbound = await cli(['selftest', '0003:01:00.0'], context);
    assert.equal(unbound.code, 1);
    assert.match(unbound.err, /\(edu\) is bound to no driver, not vfio-pci: run `vfio-spapr bind/);
    const absent = await cli(['selftest', '0009:01:00.0'], context);
    assert.equal(absent.code, 1);
    assert.match(absent.err, /ERR_VFIO_DRIVER_BIND: no PCI device 0009:01:00\.0 on this host/);
    assert.deepEqual(kernel.ioctls, []);
  });

  it('an NVMe controller that never becomes ready: a typed timeout, nothing left open or locked', async function () {
    this.timeout(10000);
    const run = await cli(['selftest', '0000:01:00.0'], context);
    assert.equal(run.code, 1);
    assert.match(
      run.err,
      /^vfio-spapr selftest: ERR_VFIO_NVME_TIMEOUT: CSTS\.RDY 1 did not happen within 500 ms/,
    );
    // The steps up to the failure were printed as they ran.
    assert.match(run.out, /^1\. attached IOMMU group 0 holding 0000:01:00\.0; SPAPR TCE v2/m);
    assert.match(run.out, /^2\. default window: 64 KiB registered and mapped at IOVA 0x100000/m);
    assert.deepEqual(kernel.containerFds(), []);
    assert.equal(kernel.locked, 0n);
  });
});
