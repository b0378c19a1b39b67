// Output formatting: aligned tables for people, JSON with exact numbers for scripts, and a
// failure as one line with the error's code.
import { strict as assert } from 'node:assert';
import { describeFailure } from '../../lib/cli/failure';
import { hex, table, toJson } from '../../lib/cli/format';
import { UsageError } from '../../lib/cli/usage-error';
import { DriverBindError, InvalidBdfError, MemlockLimitError } from '../../lib';

describe('cli: output', function () {
  it('aligns table columns and does not pad the last one', function () {
    assert.equal(
      table(
        ['A', 'LONGER', 'C'],
        [
          ['xyz', '1', 'end'],
          ['q', '22', ''],
        ],
      ),
      ['A    LONGER  C', 'xyz  1       end', 'q    22'].join('\n'),
    );
  });

  it('writes byte counts as numbers, and values past 2^53 as exact strings', function () {
    const parsed = JSON.parse(
      toJson({ size: 1n << 31n, huge: (1n << 64n) - 1n, at: hex(1n << 59n) }),
    );
    assert.deepEqual(parsed, {
      size: 2147483648,
      huge: '18446744073709551615',
      at: '0x800000000000000',
    });
  });

  it('turns errors into a code, a one-line message and an exit status', function () {
    assert.deepEqual(describeFailure(new UsageError('missing GROUP'), 'info'), {
      code: 'ERR_USAGE',
      message: 'missing GROUP (see `vfio-spapr info --help`)',
      exitCode: 2,
    });
    assert.equal(describeFailure(new InvalidBdfError({ value: 'x' })).exitCode, 2);
    const notBound = describeFailure(
      new DriverBindError({ device: null, problem: 'writing vfio-pci\nfailed' }),
    );
    assert.deepEqual(notBound, {
      code: 'ERR_VFIO_DRIVER_BIND',
      message: 'writing vfio-pci failed',
      exitCode: 1,
    });
    const memlock = describeFailure(
      new MemlockLimitError({
        operation: 'registering',
        needed: 1n,
        locked: 0n,
        limit: 0n,
        ulimitKiB: 1n,
      }),
    );
    assert.equal(memlock.code, 'ERR_VFIO_MEMLOCK_LIMIT');
    assert.match(memlock.message, /ulimit -l 1/);
    assert.deepEqual(describeFailure(new Error('boom')), {
      code: 'ERR_UNEXPECTED',
      message: 'boom',
      exitCode: 1,
    });
    const enoent = Object.assign(new Error('opening /dev/vfio/9: ENOENT'), { code: 'ENOENT' });
    assert.match(describeFailure(enoent).message, /see `vfio-spapr list`/);
  });
});
