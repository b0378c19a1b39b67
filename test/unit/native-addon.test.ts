// The real addon on this host (x86-64: no /dev/vfio): test/native-smoke.js proves its whole
// surface, its error shapes, that garbage arguments throw instead of crashing, and the parts
// that work without VFIO (memory, MMIO on plain memory, eventfds, process, worker_threads).
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Container, VfioUnavailableError } from '../../lib';

const REPO = path.resolve(__dirname, '..', '..', '..');

describe('the native addon on this host', function () {
  it('passes every check of the native smoke script', function () {
    this.timeout(120000);
    const run = spawnSync(process.execPath, [path.join(REPO, 'test', 'native-smoke.js')], {
      encoding: 'utf8',
    });
    const summary = /^(\d+) passed, (\d+) failed$/m.exec(run.stdout);
    assert.ok(summary, `no summary line in:\n${run.stdout}\n${run.stderr}`);
    // The failed checks first: a summary keeps only the message's first line.
    const failures = run.stdout.split('\n').filter((line) => line.startsWith('FAIL'));
    assert.equal(Number(summary[2]), 0, `${failures.join('; ')}\n${run.stdout}`);
    assert.ok(Number(summary[1]) >= 40, `only ${summary[1]} checks ran`);
    assert.equal(run.status, 0, run.stderr);
  });

  it('opening a container without VFIO is a typed error, not a crash', function () {
    if (process.arch === 'ppc64') this.skip();
    assert.throws(
      () => Container.open(),
      (e: unknown) => {
        assert.ok(e instanceof VfioUnavailableError);
        assert.equal(e.code, 'ERR_VFIO_UNAVAILABLE');
        assert.match(e.message, /no VFIO container device/);
        return true;
      },
    );
  });
});
