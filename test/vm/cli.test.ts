// Every vfio-spapr command, run as users run it (`node dist/lib/cli/main.js ...`, a separate
// process) against the real kernel: its --json output parsed and checked, its tables, its
// exit status; bind and unbind move the second edu device (group 1) off vfio-pci and back.
// A Node process takes ~10 s to start in the emulated guest, so the commands that touch
// different groups start together, and each test awaits its own.
import { strict as assert } from 'node:assert';
import type { SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Group, Sysfs } from '../../lib';
import { vfioSpapr, type Run } from './command';
import { guest } from './guest';

const STATE_DIR = '/run/vfio-spapr';
/** IOMMU page sizes the PHB offers (kernel-facts.md: pgsizes 0x11011000 on PHB3, 0x40211000 on PHB4). */
const DDW_PAGE_SIZES: Record<number, number[]> = {
  8: [4096, 65536, 2 ** 24, 2 ** 28],
  9: [4096, 65536, 2 ** 21, 2 ** 30],
};

function ok(run: Run): Run {
  assert.equal(run.code, 0, `exit ${run.code}\n${run.out}\n${run.err}`);
  return run;
}

const byName = (name: string) => (r: { name: string }) => r.name === name;

describe('vfio-spapr command (real kernel)', function () {
  const sysfs = new Sysfs();
  const asNobody: SpawnOptions = { uid: 65534, gid: 65534 };
  let runs: Record<string, Promise<Run>>;

  before(function () {
    // Started together: none of these opens a group another one uses.
    const { edu, nvme } = guest();
    runs = {
      usage: vfioSpapr(['memlock', '--register', 'lots']),
      list: vfioSpapr(['list', '--json']),
      infoEdu: vfioSpapr(['info', String(edu[1].group), '--json']),
      infoNvme: vfioSpapr(['info', String(nvme[0].group)]),
      memlockNobody: vfioSpapr(
        ['memlock', '--json', '--register', '64M', '--window', '1G:64K'],
        asNobody,
      ),
      memlockRoot: vfioSpapr(['memlock', '--register', '64M']),
      selftest: vfioSpapr(['selftest', edu[0].bdf]),
    };
    for (const run of Object.values(runs)) run.catch(() => undefined); // awaited by the tests
  });

  it('a usage mistake exits 2 with one line naming the code and the help', async function () {
    const bad = await runs.usage;
    assert.equal(bad.code, 2);
    assert.equal(
      bad.err,
      'vfio-spapr memlock: ERR_USAGE: --register: "lots" is not a size (write e.g. 4K, 64M, 2G ' +
        'or a byte count) (see `vfio-spapr memlock --help`)\n',
    );
  });

  it('list --json: the rig groups, their devices on vfio-pci, and SPAPR v1/v2 offered', async function () {
    const { json } = ok(await runs.list);
    assert.equal(json.ok, true);
    assert.deepEqual(json.iommu, {
      available: true,
      spaprV1: true,
      spaprV2: true,
      eeh: true,
      type1: false,
    });
    for (const d of [...guest().edu, ...guest().nvme]) {
      const group = json.groups.find((g: { group: number }) => g.group === d.group);
      assert.equal(group.viable, true);
      assert.equal(group.devices.find((x: { bdf: string }) => x.bdf === d.bdf).driver, 'vfio-pci');
    }
  });

  it("info --json: an edu group's windows, regions and IRQs, from a real container", async function () {
    const { group, bdf } = guest().edu[1];
    const { json } = ok(await runs.infoEdu);
    assert.equal(json.group, group);
    assert.equal(json.iommuType, 'v2');
    assert.deepEqual(json.dma32, { start: '0x0', size: 2 ** 31 });
    assert.deepEqual(json.ddw, {
      maxWindows: 2,
      levels: 5,
      pageSizes: DDW_PAGE_SIZES[guest().power],
    });
    assert.deepEqual(json.windows, [
      { start: '0x0', size: 2 ** 31, pageSize: 4096, levels: 1, default: true },
    ]);
    assert.equal(json.devices.length, 1);
    const device = json.devices[0];
    assert.equal(device.bdf, bdf);
    // edu: a 1 MiB BAR0 and config space; no VGA region (the kernel says EINVAL for it)
    assert.deepEqual(
      device.regions.map((r: { name: string }) => r.name),
      ['BAR0', 'CONFIG'],
    );
    assert.equal(device.regions.find(byName('BAR0')).size, 1 << 20);
    assert.equal(device.regions.find(byName('BAR0')).mappable, true);
    assert.deepEqual(device.irqs.find(byName('INTX')).flags, ['eventfd', 'maskable', 'automasked']);
    assert.deepEqual(device.irqs.find(byName('MSI')).flags, ['eventfd', 'noresize']);
    assert.equal(device.irqs.find(byName('MSI')).count, 1);
    // edu is conventional PCI: no ERR index; the kernel asks for it back through REQ
    assert.deepEqual(
      device.irqs.map((i: { name: string }) => i.name),
      ['INTX', 'MSI', 'MSIX', 'REQ'],
    );
    assert.equal(device.resettable, true);
    // Each device sits alone behind its own root port: a hot reset touches it alone.
    assert.deepEqual(device.hotReset, { devices: [{ bdf, group }], groups: [group] });
    assert.deepEqual(device.regions.find(byName('BAR0')).trapped, []);
  });

  it("info: the NVMe controller's 16 KiB BAR0 with its capability chain, as a table", async function () {
    const { out } = ok(await runs.infoNvme);
    const { group, bdf } = guest().nvme[0];
    assert.match(
      out,
      new RegExp(
        `^IOMMU group ${group}: viable, attached to a new container as SPAPR TCE v2$`,
        'm',
      ),
    );
    assert.match(out, /^DMA32 window: 2 GiB at 0x0$/m);
    assert.match(out, new RegExp(`^device ${bdf} \\(1b36:0010\\): PCI, reset supported$`, 'm'));
    assert.match(
      out,
      new RegExp(
        `^ {2}hot reset: resets ${bdf} \\(group ${group}\\); needs group\\(s\\) ${group} held$`,
        'm',
      ),
    );
    // The MSI-X table (65 vectors) and PBA sit in BAR0: the parts a VMM traps.
    assert.match(
      out,
      /^ {2}BAR0 +16 KiB +0x0 +r w mmap +msix-mappable +msix-table 0x2000\+0x410, msix-pba 0x3000\+0x10$/m,
    );
    assert.match(out, /^ {2}MSIX +65 +eventfd, noresize$/m);
    assert.match(out, /^ {2}ERR +1 +eventfd, noresize$/m);
  });

  it('memlock as uid 65534: the default 8 MiB limit, a plan that does not fit, exit 1', async function () {
    const run = await runs.memlockNobody;
    assert.equal(run.code, 1, run.err);
    const { json } = run;
    assert.equal(json.ok, false);
    assert.equal(json.capIpcLock, false);
    assert.equal(json.limit, 8 << 20);
    assert.equal(json.fits, false);
    assert.equal(json.plan[0].bytes, 64 << 20);
    // 1 GiB of 64K IOMMU pages: 16384 TCEs of 8 bytes, twice (the kernel's userspace view)
    assert.equal(json.plan[1].bytes, Math.max(2 * 16384 * 8, 2 * json.systemPageSize));
    assert.equal(json.ulimitKiB, Math.ceil((json.locked + json.needed) / 1024));
  });

  it('memlock as root: CAP_IPC_LOCK lifts the limit', async function () {
    const { out } = ok(await runs.memlockRoot);
    assert.match(out, /^CAP_IPC_LOCK: yes \(the limit does not apply\)$/m);
    assert.match(out, /^ {2}register 64 MiB +64 MiB$/m);
    assert.match(out, /^fits: CAP_IPC_LOCK lifts the limit$/m);
  });

  it('selftest: the DMA round trip through edu, each step printed', async function () {
    const { out } = ok(await runs.selftest);
    const { bdf } = guest().edu[0];
    assert.match(out, /^1\. opened \/dev\/vfio\/vfio: API 0, SPAPR v1 true, v2 true/m);
    assert.match(out, /^10\. verified: the bytes came back identical$/m);
    assert.match(out, new RegExp(`^selftest ${bdf}: OK \\(4000 bytes each way`, 'm'));
  });

  describe('bind and unbind (the second edu device)', function () {
    let bdf: string;
    let group: number;
    let node: string;
    const record = () => path.join(STATE_DIR, `${bdf}.json`);
    before(async function () {
      await Promise.allSettled(Object.values(runs)); // nothing else holds group 1 now
      ({ bdf, group } = guest().edu[1]);
      node = `/dev/vfio/${group}`;
      fs.rmSync(record(), { force: true });
    });
    after(function () {
      // Leave the device as the rig left it, whatever happened above.
      if (sysfs.driverOf(bdf) !== 'vfio-pci') sysfs.bindToVfioPci(bdf);
      fs.chmodSync(node, 0o666);
      fs.rmSync(record(), { force: true });
    });

    it('unbind refuses while a process holds the group open', async function () {
      const held = Group.open(group);
      try {
        const run = await vfioSpapr(['unbind', bdf]);
        assert.equal(run.code, 1);
        assert.match(
          run.err,
          new RegExp(
            `^vfio-spapr unbind: ERR_VFIO_DRIVER_BIND: ${node} .* is open in process ${process.pid} \\(node\\)`,
          ),
        );
        assert.equal(sysfs.driverOf(bdf), 'vfio-pci');
      } finally {
        held.close();
      }
    });

    it('unbind of a device the rig bound: no record, the kernel reprobes (edu has no host driver)', async function () {
      const { json } = ok(await vfioSpapr(['unbind', bdf, '--json']));
      assert.deepEqual(json.devices, [
        { bdf, group, driver: null, changed: true, how: 'reprobed' },
      ]);
      assert.equal(sysfs.driverOf(bdf), null);
      const override = fs.readFileSync(`/sys/bus/pci/devices/${bdf}/driver_override`, 'utf8');
      assert.equal(override.trim(), '(null)');
      assert.equal(
        fs.existsSync(node),
        false,
        `${node} goes with the group's last vfio-pci device`,
      );
    });

    it('bind records the previous driver (none) and moves the device to vfio-pci', async function () {
      const { json } = ok(await vfioSpapr(['bind', bdf, '--json']));
      assert.deepEqual(json.devices, [
        {
          bdf,
          group,
          previousDriver: null,
          driver: 'vfio-pci',
          changed: true,
          vfioNode: node,
          stateFile: record(),
        },
      ]);
      assert.equal(sysfs.driverOf(bdf), 'vfio-pci');
      assert.equal(
        fs.readFileSync(`/sys/bus/pci/devices/${bdf}/driver_override`, 'utf8').trim(),
        'vfio-pci',
      );
      assert.ok(fs.existsSync(node));
      assert.equal(JSON.parse(fs.readFileSync(record(), 'utf8')).previousDriver, null);
    });

    it('the rebound device does DMA (selftest --json)', async function () {
      const { json } = ok(await vfioSpapr(['selftest', bdf, '--json']));
      assert.equal(json.ok, true);
      assert.equal(json.bdf, bdf);
      assert.equal(json.group, group);
      assert.equal(json.match, true);
      assert.equal(json.lockedAtEnd, json.lockedAtStart);
      assert.equal(json.steps.length, 12);
    });

    it('unbind restores the recorded state: no driver, no reprobe, record gone', async function () {
      const { out } = ok(await vfioSpapr(['unbind', bdf]));
      assert.match(
        out,
        new RegExp(`^${bdf} +${group} +\\(none\\) +restored the driver recorded by bind$`, 'm'),
      );
      assert.equal(sysfs.driverOf(bdf), null);
      assert.equal(fs.existsSync(record()), false);
    });

    it('bind puts it back on vfio-pci for the rest of the suite', async function () {
      const { out } = ok(await vfioSpapr(['bind', bdf]));
      assert.match(out, new RegExp(`^${bdf} +${group} +\\(none\\) +vfio-pci +${node}$`, 'm'));
      assert.equal(sysfs.driverOf(bdf), 'vfio-pci');
    });
  });
});
