// Fuzz on the real kernel (a smaller run than the host's): the public API over the edu and
// NVMe groups with VmLck held against the books at every quiescent point and back to its start
// when everything is closed; then the raw binding with a real group among its fds. In a
// child process: a raw call may leak a pin into the mm, which must not outlive the fuzz.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { Group } from '../../lib';
import { fuzzCalls, fuzzSeed } from '../fuzz/random';
import { guest } from './guest';

const SEED = fuzzSeed();

describe(`fuzz on the real kernel (seed ${SEED}; VFIO_FUZZ_SEED=${SEED} replays)`, function () {
  it('public API and raw binding: typed errors only, VmLck equal to the books, back to its start', async function () {
    this.timeout(600000);
    const g = guest();
    const groups = [...g.edu, ...g.nvme].map((d) => `${d.group},${d.bdf}`);
    const apiCalls = fuzzCalls(3000);
    const rawCalls = fuzzCalls(5000);
    const child = spawn(process.execPath, [
      path.join(__dirname, 'children', 'fuzz.js'),
      String(SEED),
      String(apiCalls),
      String(rawCalls),
      ...groups,
    ]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    const line = /^FUZZ_RESULT (.*)$/m.exec(stdout);
    assert.ok(line, `no result (exit ${String(code)}):\n${stdout}\n${stderr}`);
    const r = JSON.parse(line[1]) as {
      api: { summary: string; failed: number; report: string; calls: number; ms: number };
      raw: {
        summary: string;
        failed: number;
        report: string;
        calls: number;
        ms: number;
        fdsBefore: number;
        fdsAfter: number;
        leakedFds: string[];
      };
      lockedAtStart: string;
      lockedAfterApi: string;
      strandedBytes: string;
    };
    console.log(`      ${r.api.summary} in ${r.api.ms} ms`);
    console.log(`      ${r.raw.summary} in ${r.raw.ms} ms`);
    assert.equal(code, 0, stderr);
    assert.equal(r.api.failed, 0, r.api.report);
    assert.equal(r.raw.failed, 0, r.raw.report);
    assert.ok(r.api.calls >= apiCalls && r.raw.calls >= rawCalls);
    // Less what failed window creations stranded (the kernel keeps it until exit).
    assert.equal(
      BigInt(r.lockedAfterApi) - BigInt(r.strandedBytes),
      BigInt(r.lockedAtStart),
      'VmLck back to its start after the API fuzz',
    );
    assert.deepEqual(r.raw.leakedFds, [], 'fds the raw fuzz left open');
    // Whatever the raw calls pinned ended with the child: every group opens again.
    for (const d of [...g.edu, ...g.nvme]) Group.open(d.group).close();
  });
});
