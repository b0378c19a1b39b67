// The commands against a fake kernel (test/support/fake-binding.ts) and fake sysfs and
// /proc trees: what each prints, what it writes where, what it refuses before writing, and
// its exit status. The same commands run against the real kernel in test/vm/cli.test.ts.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { NativeError } from '../../lib/binding';
import type { CliContext } from '../../lib/cli/context';
import { FakeKernel } from '../support/fake-binding';
import { EDU, FakeSysfs, NVME, fakeProc } from '../support/fake-sysfs';
import { cli } from '../support/run-cli';

const MiB = 1 << 20;

describe('cli commands against fakes', function () {
  let sysfs: FakeSysfs;
  let kernel: FakeKernel;
  let stateDir: string;
  let procRoot: string;
  let context: Partial<CliContext>;

  beforeEach(function () {
    // Groups 0 and 1: edu on vfio-pci and unbound; 2: nvme on its host driver; 3: two
    // functions, one still on a host driver.
    sysfs = new FakeSysfs(
      [
        { bdf: '0000:01:00.0', group: 0, ...EDU, driver: 'vfio-pci' },
        { bdf: '0001:01:00.0', group: 1, ...EDU, driver: null },
        { bdf: '0002:01:00.0', group: 2, ...NVME, driver: 'nvme' },
        { bdf: '0003:01:00.0', group: 3, ...EDU, driver: null },
        { bdf: '0003:01:00.1', group: 3, ...NVME, driver: 'nvme' },
      ],
      ['vfio-pci', 'nvme'],
    );
    kernel = new FakeKernel({ pageSize: 4096, memlockLimit: 8n * BigInt(MiB) });
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-state-'));
    procRoot = fakeProc({ 1: ['init', ['/dev/console']] });
    context = { binding: kernel.binding(), sysfsRoot: sysfs.root, stateDir, procRoot };
  });

  afterEach(function () {
    sysfs.remove();
    fs.rmSync(stateDir, { recursive: true, force: true });
    fs.rmSync(procRoot, { recursive: true, force: true });
  });

  const stateFile = (bdf: string) => path.join(stateDir, `${bdf}.json`);

  describe('list', function () {
    it('lists groups, devices, drivers, viability and the IOMMU types, as JSON', async function () {
      const run = await cli(['list', '--json'], context);
      assert.equal(run.code, 0, run.err);
      const json = run.json<{
        ok: boolean;
        iommu: Record<string, unknown>;
        groups: {
          group: number;
          viable: boolean;
          devices: { bdf: string; driver: string | null }[];
        }[];
      }>();
      assert.equal(json.ok, true);
      assert.deepEqual(json.iommu, {
        available: true,
        spaprV1: true,
        spaprV2: true,
        eeh: true,
        type1: false,
      });
      assert.deepEqual(
        json.groups.map((g) => [g.group, g.viable, g.devices.map((d) => `${d.bdf}=${d.driver}`)]),
        [
          [0, true, ['0000:01:00.0=vfio-pci']],
          [1, true, ['0001:01:00.0=null']],
          [2, false, ['0002:01:00.0=nvme']],
          [3, false, ['0003:01:00.0=null', '0003:01:00.1=nvme']],
        ],
      );
    });

    it('prints a table for people', async function () {
      const run = await cli(['list'], context);
      assert.equal(run.code, 0);
      const lines = run.out.split('\n');
      assert.equal(
        lines[0],
        'IOMMU types offered by /dev/vfio/vfio: SPAPR TCE v2, SPAPR TCE v1, EEH',
      );
      assert.match(lines[1], /^GROUP +VIABLE +DEVICE +ID +CLASS +DRIVER$/);
      assert.match(run.out, /^0 +yes +0000:01:00\.0 +1234:11e8 +0x00ff00 +vfio-pci$/m);
      assert.match(run.out, /^3 +no +0003:01:00\.0 +1234:11e8 +0x00ff00 +\(none\)$/m);
      assert.match(run.out, /^ +0003:01:00\.1 +1b36:0010 +0x010802 +nvme$/m);
    });

    it('says there is no VFIO instead of failing', async function () {
      const binding = kernel.binding();
      binding.openContainer = () => {
        throw Object.assign(new Error('open /dev/vfio/vfio: ENOENT'), {
          code: 'ENOENT',
          errno: -2,
          syscall: 'open',
        }) as NativeError;
      };
      const run = await cli(['list', '--json'], { ...context, binding });
      assert.equal(run.code, 0);
      const iommu = run.json<{ iommu: { available: boolean; error: { code: string } } }>().iommu;
      assert.equal(iommu.available, false);
      assert.equal(iommu.error.code, 'ERR_VFIO_UNAVAILABLE');
    });
  });

  describe('bind', function () {
    it('refuses a group still holding a device on a host driver, before writing anything', async function () {
      const run = await cli(['bind', '0003:01:00.0'], context);
      assert.equal(run.code, 1);
      assert.equal(
        run.err,
        'vfio-spapr bind: ERR_VFIO_GROUP_NOT_VIABLE: IOMMU group 3 of 0003:01:00.0 also holds ' +
          '0003:01:00.1 (bound to nvme): a group goes to VFIO whole; bind them together: ' +
          'vfio-spapr bind 0003:01:00.0 0003:01:00.1',
      );
      assert.equal(sysfs.read('bus/pci/devices/0003:01:00.0/driver_override'), '(null)\n');
      assert.equal(sysfs.read('bus/pci/drivers_probe'), '');
      assert.equal(fs.existsSync(stateFile('0003:01:00.0')), false);
    });

    it('records the previous driver before moving the device', async function () {
      // Both functions named: the group check passes. The fake has no kernel, so the driver
      // link does not move and bind reports it; the record is there for unbind all the same.
      const run = await cli(['bind', '0003:01:00.1', '0003:01:00.0'], context);
      assert.equal(run.code, 1);
      assert.match(
        run.err,
        /^vfio-spapr bind: ERR_VFIO_DRIVER_BIND: 0003:01:00\.1 did not bind to vfio-pci \(driver now: nvme\)/,
      );
      const record = JSON.parse(fs.readFileSync(stateFile('0003:01:00.1'), 'utf8'));
      assert.equal(record.bdf, '0003:01:00.1');
      assert.equal(record.previousDriver, 'nvme');
      assert.ok(!Number.isNaN(Date.parse(record.boundAt)));
      const dev = 'bus/pci/devices/0003:01:00.1';
      assert.equal(sysfs.read(`${dev}/driver_override`), 'vfio-pci');
      assert.equal(sysfs.read('bus/pci/drivers/nvme/unbind'), '0003:01:00.1');
      assert.equal(sysfs.read('bus/pci/drivers_probe'), '0003:01:00.1');
    });

    it('leaves a device already on vfio-pci alone', async function () {
      const run = await cli(['bind', '--json', '0000:01:00.0'], context);
      assert.equal(run.code, 0, run.err);
      assert.deepEqual(run.json(), {
        ok: true,
        devices: [
          {
            bdf: '0000:01:00.0',
            group: 0,
            previousDriver: null,
            driver: 'vfio-pci',
            changed: false,
            vfioNode: '/dev/vfio/0',
            stateFile: null,
          },
        ],
      });
      assert.equal(sysfs.read('bus/pci/devices/0000:01:00.0/driver_override'), '(null)\n');
    });

    it('names a device that does not exist', async function () {
      const run = await cli(['bind', '0000:09:00.0'], context);
      assert.equal(run.code, 1);
      assert.equal(
        run.err,
        'vfio-spapr bind: ERR_VFIO_DRIVER_BIND: no PCI device 0000:09:00.0 on this host',
      );
    });

    it('says so when the state directory cannot be written', async function () {
      const blocker = path.join(stateDir, 'file');
      fs.writeFileSync(blocker, '');
      const run = await cli(['bind', '0001:01:00.0'], { ...context, stateDir: blocker });
      assert.equal(run.code, 1);
      assert.match(
        run.err,
        /cannot record the previous driver of 0001:01:00\.0 .*VFIO_SPAPR_STATE_DIR/,
      );
      assert.equal(sysfs.read('bus/pci/devices/0001:01:00.0/driver_override'), '(null)\n');
    });
  });

  describe('unbind', function () {
    it('gives the device back to the driver bind recorded', async function () {
      fs.writeFileSync(
        stateFile('0000:01:00.0'),
        JSON.stringify({ bdf: '0000:01:00.0', previousDriver: 'nvme', boundAt: 'then' }),
      );
      const run = await cli(['unbind', '0000:01:00.0'], context);
      // The fake's driver link stays on vfio-pci, so unbind reports that the restore failed;
      // the writes are the ones that restore it on a kernel.
      assert.equal(run.code, 1);
      assert.match(run.err, /did not go back to nvme \(driver now: vfio-pci\)/);
      assert.equal(sysfs.read('bus/pci/devices/0000:01:00.0/driver_override'), '\n');
      assert.equal(sysfs.read('bus/pci/drivers/vfio-pci/unbind'), '0000:01:00.0');
      assert.equal(sysfs.read('bus/pci/drivers/nvme/bind'), '0000:01:00.0');
      assert.equal(sysfs.read('bus/pci/drivers_probe'), '');
      assert.equal(fs.existsSync(stateFile('0000:01:00.0')), true, 'kept for another try');
    });

    it('leaves a device that had no driver without one (no reprobe)', async function () {
      fs.writeFileSync(
        stateFile('0000:01:00.0'),
        JSON.stringify({ bdf: '0000:01:00.0', previousDriver: null, boundAt: 'then' }),
      );
      const run = await cli(['unbind', '--json', '0000:01:00.0'], context);
      assert.equal(run.code, 0, run.err);
      assert.equal(run.json<{ devices: { how: string }[] }>().devices[0].how, 'restored');
      assert.equal(sysfs.read('bus/pci/drivers/vfio-pci/unbind'), '0000:01:00.0');
      assert.equal(sysfs.read('bus/pci/drivers_probe'), '');
      assert.equal(fs.existsSync(stateFile('0000:01:00.0')), false);
    });

    it('lets the kernel reprobe a device it has no record of', async function () {
      const run = await cli(['unbind', '--json', '0000:01:00.0'], context);
      assert.equal(run.code, 0, run.err);
      assert.equal(run.json<{ devices: { how: string }[] }>().devices[0].how, 'reprobed');
      assert.equal(sysfs.read('bus/pci/devices/0000:01:00.0/driver_override'), '\n');
      assert.equal(sysfs.read('bus/pci/drivers_probe'), '0000:01:00.0');
    });

    it('refuses while a process holds the group open: the kernel would wait for it', async function () {
      const proc = fakeProc({ 4242: ['qemu-system', ['/dev/null', '/dev/vfio/0']] });
      const run = await cli(['unbind', '0000:01:00.0'], { ...context, procRoot: proc });
      fs.rmSync(proc, { recursive: true });
      assert.equal(run.code, 1);
      assert.equal(
        run.err,
        'vfio-spapr unbind: ERR_VFIO_DRIVER_BIND: /dev/vfio/0 (the group of 0000:01:00.0) is open ' +
          'in process 4242 (qemu-system): the kernel would wait until it is closed; stop that process first',
      );
      assert.equal(sysfs.read('bus/pci/devices/0000:01:00.0/driver_override'), '(null)\n');
      assert.equal(sysfs.read('bus/pci/drivers/vfio-pci/unbind'), null);
    });

    it('leaves a device that is not on vfio-pci alone', async function () {
      const run = await cli(['unbind', '0002:01:00.0'], context);
      assert.equal(run.code, 0, run.err);
      assert.match(run.out, /^0002:01:00\.0 +2 +nvme +not on vfio-pci: left alone$/m);
      assert.equal(sysfs.read('bus/pci/drivers/nvme/unbind'), null);
    });

    it('refuses a corrupt record rather than guessing', async function () {
      fs.writeFileSync(stateFile('0000:01:00.0'), '{"bdf":"0000:01:00.0","previousDriver":7}');
      const run = await cli(['unbind', '0000:01:00.0'], context);
      assert.equal(run.code, 1);
      assert.match(run.err, /is not a bind record: remove it and unbind again$/);
    });
  });

  describe('info', function () {
    it("reports the group's windows, regions and IRQs as JSON", async function () {
      const run = await cli(['info', '0', '--json'], context);
      assert.equal(run.code, 0, run.err);
      const json = run.json<Record<string, any>>();
      assert.equal(json.iommuType, 'v2');
      assert.deepEqual(json.dma32, { start: '0x0', size: 2 ** 31 });
      assert.deepEqual(json.ddw, {
        maxWindows: 2,
        levels: 5,
        pageSizes: [4096, 65536, 16 * MiB, 256 * MiB],
      });
      assert.deepEqual(json.windows, [
        { start: '0x0', size: 2 ** 31, pageSize: 4096, levels: 1, default: true },
      ]);
      assert.equal(json.devices.length, 1);
      const device = json.devices[0];
      assert.equal(device.bdf, '0000:01:00.0');
      assert.deepEqual(device.regions[0], {
        index: 0,
        name: 'BAR0',
        size: MiB,
        offset: '0x0',
        readable: true,
        writable: true,
        mappable: true,
        capabilities: [],
        trapped: [],
      });
      // edu as the kernel reports it: INTx maskable, no ERR index (EINVAL: not PCIe)
      assert.deepEqual(
        device.irqs.map((i: { name: string; flags: string[] }) => [i.name, i.flags.join(' ')]),
        [
          ['INTX', 'eventfd maskable automasked'],
          ['MSI', 'eventfd noresize'],
          ['MSIX', 'eventfd noresize'],
          ['REQ', 'eventfd noresize'],
        ],
      );
      assert.equal(device.resettable, true);
      assert.deepEqual(device.hotReset, {
        devices: [{ bdf: '0000:01:00.0', group: 0 }],
        groups: [0],
      });
      assert.deepEqual(kernel.ioctls.slice(0, 2), [
        'VFIO_GROUP_GET_STATUS',
        'VFIO_GROUP_SET_CONTAINER',
      ]);
    });

    it('prints it for people', async function () {
      const run = await cli(['info', '/dev/vfio/0'], context);
      assert.equal(run.code, 0, run.err);
      assert.match(
        run.out,
        /^IOMMU group 0: viable, attached to a new container as SPAPR TCE v2$/m,
      );
      assert.match(run.out, /^DMA32 window: 2 GiB at 0x0$/m);
      assert.match(
        run.out,
        /^dynamic windows: up to 2, table levels up to 5, IOMMU page sizes 4 KiB, 64 KiB, 16 MiB, 256 MiB$/m,
      );
      assert.match(run.out, /^ {2}0x0 +2 GiB +4 KiB +1 +default/m);
      assert.match(run.out, /^device 0000:01:00\.0 \(1234:11e8\): PCI, reset supported$/m);
      assert.match(
        run.out,
        /^ {2}hot reset: resets 0000:01:00\.0 \(group 0\); needs group\(s\) 0 held$/m,
      );
      assert.match(run.out, /^ {2}BAR0 +1 MiB +0x0 +r w mmap +- +-$/m);
      assert.match(run.out, /^ {2}INTX +1 +eventfd, maskable, automasked$/m);
    });

    it('shows the MSI-X table and PBA as trapped, and a device without a hot reset', async function () {
      kernel = new FakeKernel({
        pageSize: 4096,
        device: {
          regions: [
            { flags: 15, size: 0x4000n },
            ...Array(6).fill({ flags: 0, size: 0n }),
            { flags: 3, size: 256n },
          ],
          msix: { vectors: 65, table: { bar: 0, offset: 0x2000 }, pba: { bar: 0, offset: 0x3000 } },
          hotResetPeers: null,
        },
      });
      const run = await cli(['info', '0', '--json'], { ...context, binding: kernel.binding() });
      assert.equal(run.code, 0, run.err);
      const device = run.json<{ devices: Record<string, any>[] }>().devices[0];
      assert.equal(device.hotReset, null);
      assert.equal(device.msixVectors, 65);
      assert.deepEqual(device.regions[0].trapped, [
        { offset: '0x2000', size: 65 * 16, reason: 'msix-table' },
        { offset: '0x3000', size: 16, reason: 'msix-pba' },
      ]);
      const text = await cli(['info', '0'], { ...context, binding: kernel.binding() });
      assert.match(text.out, /^ {2}hot reset: not supported \(no slot or bus reset\)$/m);
      assert.match(text.out, /^ {2}BAR0 .* msix-table 0x2000\+0x410, msix-pba 0x3000\+0x10$/m);
    });

    it('skips the region and IRQ indexes the kernel says the device lacks (EINVAL)', async function () {
      // A device with every index present and sized, but for the two this test takes away.
      const binding = new FakeKernel({
        pageSize: 4096,
        device: {
          regions: Array(9).fill({ flags: 3, size: 4096n }),
          irqs: Array(5).fill({ flags: 1, count: 1 }),
        },
      }).binding();
      const einval = (call: string) =>
        Object.assign(new Error(`${call}: EINVAL`), { code: 'EINVAL', errno: -22 }) as NativeError;
      const { deviceGetRegionInfo, deviceGetIrqInfo } = binding;
      binding.deviceGetRegionInfo = (fd, index) => {
        if (index === 8) throw einval('VFIO_DEVICE_GET_REGION_INFO'); // VGA on a non-VGA device
        return deviceGetRegionInfo(fd, index);
      };
      binding.deviceGetIrqInfo = (fd, index) => {
        if (index === 3) throw einval('VFIO_DEVICE_GET_IRQ_INFO'); // ERR without AER
        return deviceGetIrqInfo(fd, index);
      };
      const run = await cli(['info', '0', '--json'], { ...context, binding });
      assert.equal(run.code, 0, run.err);
      const device = run.json<{
        devices: { regions: { index: number }[]; irqs: { name: string }[] }[];
      }>().devices[0];
      assert.deepEqual(
        device.regions.map((r) => r.index),
        [0, 1, 2, 3, 4, 5, 6, 7],
      );
      assert.deepEqual(
        device.irqs.map((i) => i.name),
        ['INTX', 'MSI', 'MSIX', 'REQ'],
      );
    });

    it('refuses a group that is not viable, with the remedy', async function () {
      const run = await cli(['info', '2'], context);
      assert.equal(run.code, 1);
      assert.match(
        run.err,
        /^vfio-spapr info: ERR_VFIO_GROUP_NOT_VIABLE: IOMMU group 2 is not viable: .*vfio-spapr bind/,
      );
    });
  });

  describe('memlock', function () {
    it('reports the limit and a plan that fits', async function () {
      const run = await cli(
        ['memlock', '--json', '--register', '4M', '--window', '2G:64K'],
        context,
      );
      assert.equal(run.code, 0, run.err);
      const json = run.json<Record<string, unknown>>();
      // 2 GiB of 64 KiB pages: 32768 TCEs of 8 bytes, and the same again for the kernel's view.
      assert.deepEqual(json.plan, [
        { what: 'register 4 MiB', bytes: 4 * MiB },
        { what: 'window of 2 GiB, 64 KiB pages, 1 level', bytes: 512 * 1024 },
      ]);
      assert.equal(json.needed, 4 * MiB + 512 * 1024);
      assert.equal(json.limit, 8 * MiB);
      assert.equal(json.locked, 0);
      assert.equal(json.fits, true);
    });

    it('exits 1 with the ulimit -l that fits when the plan does not', async function () {
      kernel.locked = 1024n * 1024n;
      const run = await cli(['memlock', '--register', '64M', '--default-window'], context);
      assert.equal(run.code, 1);
      assert.match(run.out, /^RLIMIT_MEMLOCK: 8 MiB \(hard 8 MiB\)$/m);
      assert.match(run.out, /^locked now \(VmLck\): 1 MiB$/m);
      assert.match(run.out, /^ {2}default window \(2 GiB, 4 KiB pages\) +8 MiB$/m);
      assert.match(run.out, /^ {2}total +72 MiB$/m);
      // 1 MiB locked + 72 MiB planned = 74752 KiB
      assert.match(
        run.out,
        /does not fit: .* run `ulimit -l 74752` \(KiB\) or grant CAP_IPC_LOCK$/m,
      );
    });

    it('without a plan only reports, and exits 0', async function () {
      kernel.capIpcLock = true;
      const run = await cli(['memlock'], context);
      assert.equal(run.code, 0);
      assert.match(run.out, /^CAP_IPC_LOCK: yes \(the limit does not apply\)$/m);
      assert.doesNotMatch(run.out, /plan:/);
    });
  });

  describe('selftest', function () {
    it('refuses an NVMe controller its host driver holds, before opening anything', async function () {
      const run = await cli(['selftest', '0002:01:00.0'], context);
      assert.equal(run.code, 1);
      assert.match(
        run.err,
        /^vfio-spapr selftest: ERR_VFIO_DRIVER_BIND: 0002:01:00\.0 \(nvme\) is held by the host driver nvme, not vfio-pci/,
      );
      assert.deepEqual(kernel.ioctls, []);
    });

    it('says how to bind an edu device that is not on vfio-pci', async function () {
      const run = await cli(['selftest', '0001:01:00.0', '--json'], context);
      assert.equal(run.code, 1);
      assert.match(run.err, /run `vfio-spapr bind 0001:01:00\.0` as root$/);
      assert.equal(run.json<{ error: { code: string } }>().error.code, 'ERR_VFIO_DRIVER_BIND');
    });
  });

  describe('errors', function () {
    it('prints a stack trace only with --debug', async function () {
      const quiet = await cli(['info', '2'], context);
      assert.equal(quiet.err.split('\n').length, 1);
      const debug = await cli(['info', '2', '--debug'], context);
      assert.match(debug.err, /\n\s+at .*Container\.addGroup/);
    });
  });
});
