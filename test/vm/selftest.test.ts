// `vfio-spapr selftest` on QEMU's NVMe controller through the real kernel: Identify through
// the default and a dynamic window, read-only. Once as users run it (a separate process, its
// steps printed as they run), once in this process with --json (the document parsed), and a
// device class it does not know refused. The edu self-test runs in test/vm/cli.test.ts.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { runCli } from '../../lib/cli/main';
import { Sysfs } from '../../lib';
import { vfioSpapr } from './command';
import { guest, vmLocked } from './guest';

/** The page QEMU's NVMe answers in every window (the rig's serial and 64 MiB image). */
const SERIAL = 'vfiospapr0001';
const MODEL = 'QEMU NVMe Ctrl';

describe('vfio-spapr selftest on NVMe (real kernel)', function () {
  it('device.nvme-queues: as a process, each step printed, Identify alike in the default and a dynamic window', async function () {
    const { bdf, group } = guest().nvme[0];
    const run = await vfioSpapr(['selftest', bdf]);
    assert.equal(run.code, 0, `${run.out}\n${run.err}`);
    const lines = run.out.trim().split('\n');
    assert.match(lines[0], /^locked memory at start: \d+ KiB \(VmLck\)$/);
    assert.match(
      run.out,
      new RegExp(
        `^1\\. attached IOMMU group ${group} holding ${bdf}; SPAPR TCE v2, default window 2048 MiB at 0x0$`,
        'm',
      ),
    );
    assert.match(run.out, /^2\. default window: 64 KiB registered and mapped at IOVA 0x100000;/m);
    assert.match(
      run.out,
      new RegExp(
        `^4\\. Identify Controller by DMA: model "${MODEL}", serial "${SERIAL}", .*PCI vendor 0x1b36, namespace IDs up to \\d+$`,
        'm',
      ),
    );
    assert.match(run.out, /^5\. Identify Namespace 1 by DMA: 131072 blocks of 512 bytes$/m);
    // The dynamic window: IOMMU pages of the kernel's page size (ordinary memory backs no more).
    const page = guest().pageSize / 1024;
    assert.match(
      run.out,
      new RegExp(
        `^6\\. created a dynamic window of 256 MiB in ${page} KiB pages at 0x800000000000000$`,
        'm',
      ),
    );
    assert.match(
      run.out,
      /^7\. dynamic window: 64 KiB registered and mapped at IOVA 0x800000000000000;/m,
    );
    assert.match(
      run.out,
      new RegExp(`^9\\. Identify Controller by DMA: model "${MODEL}", serial "${SERIAL}"`, 'm'),
    );
    assert.match(
      run.out,
      /^12\. checked: the Identify answers are the same bytes in 2 window\(s\); serial, model, vendor and block size make sense$/m,
    );
    assert.match(
      run.out,
      /^13\. closed the container: locked (\d+) KiB \(start \1 KiB\); nothing was written to the media$/m,
    );
    assert.match(
      lines[lines.length - 1],
      new RegExp(
        `^selftest ${bdf}: OK \\(NVMe "${MODEL}" serial "${SERIAL}": Identify alike through the default and the dynamic window, locked memory back to .+\\)$`,
      ),
    );
  });

  it('device.nvme-queues: --json parses, both windows answered, locked memory back', async function () {
    const { bdf, group } = guest().nvme[0];
    const out: string[] = [];
    const start = vmLocked();
    const code = await runCli(['selftest', bdf, '--json'], {
      out: (text) => out.push(text),
      err: (text) => out.push(text),
    });
    assert.equal(code, 0, out.join('\n'));
    assert.equal(out.length, 1, 'one JSON document and nothing else');
    const json = JSON.parse(out[0]);
    assert.equal(json.ok, true);
    assert.equal(json.device, 'nvme');
    assert.equal(json.bdf, bdf);
    assert.equal(json.group, group);
    assert.equal(json.identical, true);
    assert.deepEqual(json.problems, []);
    assert.deepEqual(
      json.passes.map((p: { window: string; iova: string | number }) => [p.window, BigInt(p.iova)]),
      [
        ['default', 0x100000n],
        ['dynamic', 0x0800000000000000n],
      ],
    );
    for (const pass of json.passes) {
      assert.equal(pass.serial, SERIAL);
      assert.equal(pass.model, MODEL);
      assert.equal(pass.vendorId, 0x1b36);
      assert.deepEqual(pass.namespace, { blocks: 131072, blockSize: 512 });
    }
    assert.equal(json.lockedAtEnd, json.lockedAtStart);
    assert.equal(json.steps.length, 14);
    assert.equal(vmLocked(), start, "this process's locked memory is back");
  });

  it('refuses a device it does not know (a PCI bridge), exit 2, before opening anything', async function () {
    // Any PCI device that is neither edu nor NVMe: the root ports of the emulated PHBs.
    const sysfs = new Sysfs();
    const other = fs
      .readdirSync('/sys/bus/pci/devices')
      .map((bdf) => sysfs.deviceInfo(bdf))
      .find((d) => d.class !== '0x010802' && !(d.vendor === '1234' && d.device === '11e8'));
    assert.ok(other, 'the emulated machine has PCI root ports');
    const err: string[] = [];
    const code = await runCli(['selftest', other.bdf], {
      out: () => undefined,
      err: (t) => err.push(t),
    });
    assert.equal(code, 2);
    assert.match(
      err[0],
      new RegExp(`^vfio-spapr selftest: ERR_VFIO_UNSUPPORTED_DEVICE: ${other.bdf} is `),
    );
  });
});
