// `vfio-spapr conformance` against the fake kernel: its command line, its refusals, --dry-run,
// its output; and the fake kernel held to the table: every row the fake models must come out
// as docs/kernel.md states it (the rows it does not model are listed here, with why).
import { strict as assert } from 'node:assert';
import type { CliContext } from '../../lib/cli/context';
import { CONFORMANCE_ROWS } from '../../lib/conformance/rows';
import { FakeKernel } from '../support/fake-binding';
import { EDU, FakeSysfs } from '../support/fake-sysfs';
import { cli } from '../support/run-cli';

/** Rows the fake does not model, and why; they must come out 'differs' against it. */
const NOT_MODELLED: Record<string, string> = {
  'reg.unmapped-address': 'the fake keeps no address space: it cannot say EFAULT',
};

interface JsonRow {
  id: string;
  outcome: string;
  seen: string | null;
  expected: string;
  reason?: string;
}

describe('vfio-spapr conformance (fake kernel)', function () {
  let sysfs: FakeSysfs;
  let context: (kernel: FakeKernel) => Partial<CliContext>;

  beforeEach(function () {
    sysfs = new FakeSysfs([
      { bdf: '0000:01:00.0', group: 0, ...EDU, driver: 'vfio-pci' },
      { bdf: '0001:01:00.0', group: 1, ...EDU, driver: 'vfio-pci' },
    ]);
    context = (kernel) => ({
      binding: kernel.binding(),
      sysfsRoot: sysfs.root,
      procRoot: '/nonexistent',
    });
  });
  afterEach(function () {
    sysfs.remove();
  });

  async function run(kernel: FakeKernel, ...args: string[]) {
    const result = await cli(['conformance', ...args, '--json'], context(kernel));
    return { ...result, rows: result.json<{ rows: JsonRow[] }>().rows };
  }

  function assertTable(rows: JsonRow[]): void {
    for (const row of rows) {
      if (row.id in NOT_MODELLED) {
        assert.notEqual(row.outcome, 'pass', `${row.id} now passes: remove it from NOT_MODELLED`);
        continue;
      }
      assert.notEqual(
        row.outcome,
        'differs',
        `${row.id}: the fake says "${row.seen}", the table "${row.expected}"`,
      );
    }
  }

  it('as root: every row the fake models is the row of the table; the others are skipped with reasons', async function () {
    const { code, rows, json } = await run(new FakeKernel({ capIpcLock: true }), '0', '1');
    assertTable(rows);
    assert.equal(code, 0, 'no row the library relies on differs');
    const skipped = Object.fromEntries(
      rows.filter((r) => r.outcome === 'skipped').map((r) => [r.id, r.reason]),
    );
    assert.match(skipped['reg.beyond-limit-nonroot'] ?? '', /needs a user without CAP_IPC_LOCK/);
    assert.match(skipped['reg.unregister-while-mapped'] ?? '', /runs in a child process/);
    assert.match(skipped['reg.other-process'] ?? '', /spawns a child process/);
    assert.equal(rows.length, CONFORMANCE_ROWS.length);
    const summary = json<{ summary: { lockedBack: boolean; reliedOnDiffer: string[] } }>().summary;
    assert.equal(summary.lockedBack, true);
    assert.deepEqual(summary.reliedOnDiffer, []);
  });

  it('without CAP_IPC_LOCK under a 64 MiB limit: the memlock rows run and match the table', async function () {
    const kernel = new FakeKernel({ capIpcLock: false, memlockLimit: 64n << 20n });
    const { rows } = await run(kernel, '0');
    assertTable(rows);
    for (const id of [
      'reg.beyond-limit-nonroot',
      'map.lazy-default-window-nonroot',
      'v1.enable-nonroot',
    ]) {
      assert.equal(rows.find((r) => r.id === id)?.outcome, 'pass', id);
    }
    assert.equal(kernel.memlockLimit, 64n << 20n, 'the limit is back');
    const enable = rows.find((r) => r.id === 'v1.enable-charge');
    assert.match(
      enable?.reason ?? '',
      /^needs 2\.0 GiB of locked memory and RLIMIT_MEMLOCK leaves 64 MiB/,
    );
    assert.match(
      rows.find((r) => r.id === 'container.v2-two-groups')?.reason ?? '',
      /two IOMMU groups/,
    );
  });

  it('prints what it touches first, then one line per row, then the summary', async function () {
    const out = (
      await cli(['conformance', '0', '1'], context(new FakeKernel({ capIpcLock: true })))
    ).out;
    const lines = out.split('\n');
    assert.equal(lines[0], 'vfio-spapr conformance touches:');
    assert.match(
      lines[1],
      /^- \/dev\/vfio\/vfio and IOMMU group\(s\) 0 \(0000:01:00\.0\), 1 \(0001:01:00\.0\)/,
    );
    assert.match(
      out,
      /^pass +reg\.same-range +REGISTER_MEMORY of a registered range again: EBUSY$/m,
    );
    assert.match(out, /^differs reg\.unmapped-address .*\(the library refuses this itself/m);
    assert.match(
      out,
      /^skip +reg\.beyond-limit-nonroot .*: skipped: needs a user without CAP_IPC_LOCK/m,
    );
    assert.match(out, /^conformance: \d+ rows: \d+ pass, 1 differ, \d+ skipped$/m);
    assert.match(out, /^locked memory: 0 B at start, 0 B at end \(back where it started\)$/m);
    assert.match(out, /^the kernel does what the library relies on$/m);
  });

  it('a row the library relies on that differs: DIFFERS, what was expected and seen, exit 1', async function () {
    const kernel = new FakeKernel({ capIpcLock: true });
    const binding = kernel.binding();
    const info = binding.spaprTceGetInfo;
    binding.spaprTceGetInfo = (fd) => {
      const real = info(fd);
      return { ...real, ddw: { ...real.ddw, levels: 4 } };
    };
    const run = await cli(['conformance', '0'], { ...context(kernel), binding });
    assert.equal(run.code, 1);
    assert.match(
      run.out,
      /^DIFFERS info\.levels +SPAPR_TCE_GET_INFO on v2: TCE table levels: expected "5", saw "4" \(the library relies on this\)$/m,
    );
    assert.match(
      run.out,
      /^1 row\(s\) the library relies on differ \(info\.levels\): do not trust the library on this kernel/m,
    );
  });

  it('--dry-run lists every row and what a run touches, and opens nothing', async function () {
    const kernel = new FakeKernel();
    const run = await cli(['conformance', '--dry-run', '--json'], context(kernel));
    assert.equal(run.code, 0);
    const json = run.json<{ dryRun: boolean; rows: { id: string }[]; touches: string[] }>();
    assert.equal(json.dryRun, true);
    assert.deepEqual(
      json.rows.map((r) => r.id),
      CONFORMANCE_ROWS.map((r) => r.id),
    );
    assert.match(json.touches[0], /IOMMU group\(s\) GROUP/);
    assert.deepEqual(kernel.containerFds(), []);
    assert.deepEqual(kernel.ioctls, []);
    const text = await cli(['conformance', '0', '--dry-run'], context(kernel));
    assert.match(text.out, /^vfio-spapr conformance would touch:$/m);
    assert.match(text.out, /^ {2}map\.misaligned-iova +MAP_DMA, then UNMAP_DMA, .*: \+1, \+1/m);
  });

  describe('refusals', function () {
    const cases: [string[], number, RegExp][] = [
      [[], 2, /^vfio-spapr conformance: ERR_USAGE: missing GROUP/],
      [['0', '0'], 2, /ERR_USAGE: name two different groups/],
      [['0', '1', '2'], 2, /ERR_USAGE: unexpected argument "2"/],
      [['zero'], 2, /ERR_USAGE: GROUP: "zero" is not an IOMMU group number/],
      [['2'], 1, /^vfio-spapr conformance: ERR_VFIO_GROUP_NOT_VIABLE: IOMMU group 2 is not viable/],
      [['9'], 1, /^vfio-spapr conformance: ENOENT: opening \/dev\/vfio\/9/],
    ];
    for (const [args, code, message] of cases) {
      it(`conformance ${args.join(' ') || '(no group)'}: exit ${code}, before any row`, async function () {
        const kernel = new FakeKernel();
        const run = await cli(['conformance', ...args], context(kernel));
        assert.equal(run.code, code, run.err);
        assert.match(run.err, message);
        assert.deepEqual(kernel.containerFds(), [], 'no container left open');
        assert.doesNotMatch(run.out, /^(pass|skip|differs|DIFFERS) /m, 'no row ran');
      });
    }
  });
});
