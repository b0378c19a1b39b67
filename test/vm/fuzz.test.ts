// Fuzz on the real kernel (a smaller run than the host's): the public API over the edu and
// NVMe groups, as root and as uid 65534 under a memlock limit (where the library's memlock
// checks are on the path), with VmLck held against the books at every quiescent point and
// back to its start when everything is closed, and every kernel refusal of a call the books
// allowed a finding (test/fuzz/kernel-refusals.ts); then, as root, the raw binding with a real
// group among its fds. In child processes: a raw call may leak a pin into the mm, which must
// not outlive the fuzz.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { Group } from '../../lib';
import { nativeBinding } from '../../lib/binding';
import { fuzzCalls, fuzzSeed } from '../fuzz/random';
import { guest } from './guest';

const SEED = fuzzSeed();
/** The uid 65534 walk's seed: another walk than root's, replayed by the same VFIO_FUZZ_SEED. */
const NOBODY_SEED = (SEED ^ 65534) >>> 0;
/**
 * The usual default limit: a registration fits, the default window's 8 MiB table beside it
 * does not, so the library's prediction decides often, both ways.
 */
const NOBODY_MEMLOCK = 8n << 20n;

interface Tallied {
  summary: string;
  failed: number;
  report: string;
  calls: number;
  ms: number;
}

interface FuzzResult {
  api: Tallied & { codes: Record<string, number> };
  raw?: Tallied & { fdsBefore: number; fdsAfter: number; leakedFds: string[] };
  uid: number;
  lockedAtStart: string;
  lockedAfterApi: string;
  strandedBytes: string;
}

/** Runs test/vm/children/fuzz.ts; `uid` 65534 under RLIMIT_MEMLOCK `limit`. */
async function fuzzChild(
  seed: number,
  apiCalls: number,
  rawCalls: number,
  nobody?: { limit: bigint },
): Promise<FuzzResult> {
  const g = guest();
  const groups = [...g.edu, ...g.nvme].map((d) => `${d.group},${d.bdf}`);
  const b = nativeBinding();
  const saved = b.getMemlockLimit();
  // The child inherits the limit it is spawned under.
  if (nobody) b.setMemlockLimit(nobody.limit, nobody.limit);
  let child;
  try {
    child = spawn(
      process.execPath,
      [
        path.join(__dirname, 'children', 'fuzz.js'),
        String(seed),
        String(apiCalls),
        String(rawCalls),
        ...groups,
      ],
      nobody ? { uid: 65534, gid: 65534 } : {},
    );
  } finally {
    b.setMemlockLimit(saved.soft, saved.hard);
  }
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  const line = /^FUZZ_RESULT (.*)$/m.exec(stdout);
  assert.ok(line, `no result (exit ${String(code)}):\n${stdout}\n${stderr}`);
  assert.equal(code, 0, stderr);
  return JSON.parse(line[1]) as FuzzResult;
}

/** What every API run must show: no finding, and VmLck back where it started. */
function assertApi(r: FuzzResult, calls: number): void {
  console.log(`      ${r.api.summary} in ${r.api.ms} ms`);
  assert.equal(r.api.failed, 0, r.api.report);
  assert.ok(r.api.calls >= calls);
  // Less what failed window creations stranded, as measured (the kernel keeps it until exit).
  assert.equal(
    BigInt(r.lockedAfterApi) - BigInt(r.strandedBytes),
    BigInt(r.lockedAtStart),
    'VmLck back to its start after the API fuzz',
  );
}

describe(`fuzz on the real kernel (seed ${SEED}; VFIO_FUZZ_SEED=${SEED} replays)`, function () {
  this.timeout(600000);

  it('public API and raw binding, root: no finding, VmLck equal to the books, back to its start', async function () {
    const apiCalls = fuzzCalls(3000);
    const rawCalls = fuzzCalls(5000);
    const r = await fuzzChild(SEED, apiCalls, rawCalls);
    assert.equal(r.uid, 0);
    assertApi(r, apiCalls);
    const raw = r.raw!;
    console.log(`      ${raw.summary} in ${raw.ms} ms`);
    assert.equal(raw.failed, 0, raw.report);
    assert.ok(raw.calls >= rawCalls);
    assert.deepEqual(raw.leakedFds, [], 'fds the raw fuzz left open');
    // Whatever the raw calls pinned ended with the child: every group opens again.
    const g = guest();
    for (const d of [...g.edu, ...g.nvme]) Group.open(d.group).close();
  });

  it(`public API as uid 65534 under RLIMIT_MEMLOCK ${NOBODY_MEMLOCK >> 20n} MiB (seed ${NOBODY_SEED}): the memlock checks on the path, no finding`, async function () {
    const apiCalls = fuzzCalls(1500);
    const r = await fuzzChild(NOBODY_SEED, apiCalls, 0, { limit: NOBODY_MEMLOCK });
    assert.equal(r.uid, 65534);
    assertApi(r, apiCalls);
    console.log(`      MemlockLimitError ${r.api.codes.ERR_VFIO_MEMLOCK_LIMIT ?? 0} times`);
    assert.ok(r.api.codes.ERR_VFIO_MEMLOCK_LIMIT > 0, 'the library predicted the limit');
  });
});
