// `vfio-spapr conformance` against the real kernel, run as users run it (a separate process):
// as root on the two edu groups (the multi-group rows run), and as uid 65534 under a small
// RLIMIT_MEMLOCK on the NVMe group (the memlock rows run there). One test per row of the
// kernel table, titled with the row's id: every row must pass in one of the two runs, with
// what the table states for this guest, and no row may differ in either. The root run's
// --json output is parsed; the non-root run's text output is read line by line.
import { strict as assert } from 'node:assert';
import { nativeBinding } from '../../lib/binding';
import { expectedOn } from '../../lib/conformance/row';
import { CONFORMANCE_ROWS } from '../../lib/conformance/rows';
import { vfioSpapr, type Run } from './command';
import { guest } from './guest';

const MiB = 1n << 20n;
/** The non-root run's RLIMIT_MEMLOCK: the memlock rows lower their own soft limit under it. */
const NOBODY_LIMIT = 16n * MiB;

interface JsonRow {
  id: string;
  expected: string;
  seen: string | null;
  outcome: 'pass' | 'differs' | 'skipped';
  reason?: string;
  lockedBack: boolean | null;
}

describe('vfio-spapr conformance (real kernel)', function () {
  let root: Promise<Run>;
  let nobody: Promise<Run>;

  before(function () {
    const { edu, nvme } = guest();
    root = vfioSpapr(['conformance', String(edu[0].group), String(edu[1].group), '--json']);
    // The child inherits RLIMIT_MEMLOCK at spawn; this process gets its own limit back at once.
    const b = nativeBinding();
    const saved = b.getMemlockLimit();
    b.setMemlockLimit(NOBODY_LIMIT, NOBODY_LIMIT);
    try {
      nobody = vfioSpapr(['conformance', String(nvme[0].group)], {
        uid: 65534,
        gid: 65534,
      });
    } finally {
      b.setMemlockLimit(saved.soft, saved.hard);
    }
    root.catch(() => undefined);
    nobody.catch(() => undefined);
  });

  it('as root: exit 0, locked memory back where it started, and nothing differs', async function () {
    const run = await root;
    assert.equal(run.code, 0, `${run.out}\n${run.err}`);
    assert.equal(run.json.ok, true);
    assert.equal(run.json.summary.lockedBack, true);
    assert.equal(run.json.lockedAtEnd, run.json.lockedAtStart);
    assert.equal(run.json.host.capIpcLock, true);
    assert.equal(run.json.host.power, guest().power);
    // window.level-too-large: both guest kernels' page allocator gives at most 16 MiB at once
    assert.equal(BigInt(run.json.host.pageSize) << BigInt(run.json.host.maxPageOrder), 16n * MiB);
    assert.deepEqual(
      run.json.rows.filter((r: JsonRow) => r.outcome === 'differs'),
      [],
    );
  });

  /** The non-root run's line of a row: its label and what follows the title. */
  async function nobodyLine(id: string, title: string) {
    const { out } = await nobody;
    const line = out.split('\n').find((l) => l.split(/ +/)[1] === id);
    assert.ok(line, `no line for ${id} in:\n${out}`);
    const label = line.split(' ')[0];
    const rest = line.slice(line.indexOf(title) + title.length + 2);
    return { label, seen: label === 'pass' ? rest : null, line };
  }

  it('as uid 65534 under a 16 MiB RLIMIT_MEMLOCK, as text: exit 0, each row on a line, nothing differs', async function () {
    const run = await nobody;
    assert.equal(run.code, 0, `${run.out}\n${run.err}`);
    assert.match(run.out, /^vfio-spapr conformance touches:$/m);
    assert.match(
      run.out,
      /^host: kernel 6\.12\S*, \d+ KiB pages, POWER[89], uid 65534, CAP_IPC_LOCK no/m,
    );
    assert.match(run.out, /^locked memory: .* \(back where it started\)$/m);
    assert.match(run.out, /^the kernel does what the library relies on$/m);
    for (const row of CONFORMANCE_ROWS) {
      const { label, line } = await nobodyLine(row.id, row.title);
      assert.ok(label === 'pass' || label === 'skip', line);
    }
  });

  const host = () => ({
    pageSize: BigInt(guest().pageSize),
    power: guest().power,
    capIpcLock: true,
    maxPageOrder: nativeBinding().maxPageOrder(),
  });

  for (const row of CONFORMANCE_ROWS) {
    it(`${row.id}: ${row.title}`, async function () {
      const expected = expectedOn(row, host());
      const asRoot: JsonRow = (await root).json.rows.find((r: JsonRow) => r.id === row.id);
      const asNobody = await nobodyLine(row.id, row.title);
      const seen = asRoot.outcome === 'pass' ? asRoot.seen : asNobody.seen;
      assert.equal(
        seen,
        expected,
        `root: ${asRoot.outcome} ${asRoot.seen ?? asRoot.reason}; uid 65534: ${asNobody.line}`,
      );
      if (asRoot.outcome === 'pass')
        assert.notEqual(asRoot.lockedBack, false, 'locked memory back');
    });
  }
});
