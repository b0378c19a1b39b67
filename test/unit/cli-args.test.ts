// The command line's grammar: sizes, commands, options, positionals, --help and the exit
// status of each kind of mistake (2), before anything touches the system.
import { strict as assert } from 'node:assert';
import { splitCommand } from '../../lib/cli/args';
import { formatBytes, parseSize } from '../../lib/cli/sizes';
import { cli } from '../support/run-cli';

describe('cli: sizes', function () {
  it('reads binary units, byte counts and hex', function () {
    const cases: [string, bigint][] = [
      ['4K', 4096n],
      ['64M', 64n << 20n],
      ['2G', 2n << 30n],
      ['1T', 1n << 40n],
      ['64k', 65536n],
      ['64MiB', 64n << 20n],
      ['16MB', 16n << 20n],
      ['65536', 65536n],
      ['0x10000', 65536n],
    ];
    for (const [text, bytes] of cases) assert.equal(parseSize(text, 'size'), bytes, text);
  });

  it('refuses what is not a size, naming the option', function () {
    for (const text of ['64Q', '', '-1', '1.5G', 'G', '64 M B']) {
      assert.throws(() => parseSize(text, '--register'), {
        code: 'ERR_USAGE',
        message: /^--register: .* is not a size/,
      });
    }
  });

  it('prints sizes in binary units, exact where the unit divides', function () {
    assert.equal(formatBytes(0n), '0 B');
    assert.equal(formatBytes(1023n), '1023 B');
    assert.equal(formatBytes(4096n), '4 KiB');
    assert.equal(formatBytes(8n << 20n), '8 MiB');
    assert.equal(formatBytes(3n << 19n), '1.5 MiB');
    assert.equal(formatBytes(1n << 40n), '1 TiB');
  });
});

describe('cli: command line', function () {
  it('finds the command wherever the global options stand', function () {
    assert.deepEqual(splitCommand(['--json', 'list']), { name: 'list', rest: ['--json'] });
    assert.deepEqual(splitCommand(['bind', 'a', 'b']), { name: 'bind', rest: ['a', 'b'] });
    assert.deepEqual(splitCommand(['--help']), { name: undefined, rest: ['--help'] });
  });

  it('prints the main help with every command and the exit statuses', async function () {
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const run = await cli(argv);
      assert.equal(run.code, 0);
      for (const name of [
        'list',
        'bind BDF...',
        'unbind BDF...',
        'info GROUP',
        'memlock',
        'selftest BDF',
        'conformance GROUP \\[GROUP\\]',
      ]) {
        assert.match(run.out, new RegExp(`^  ${name.replace('.', '\\.')} `, 'm'));
      }
      assert.match(run.out, /exit status: 0 ok, 1 failed, 2 usage error/);
    }
  });

  it('prints each command its own help, with its options', async function () {
    const bind = await cli(['bind', '--help']);
    assert.equal(bind.code, 0);
    assert.match(bind.out, /^usage: vfio-spapr bind BDF\.\.\. \[options\]/);
    assert.match(bind.out, /\/run\/vfio-spapr/);
    const memlock = await cli(['help', 'memlock']);
    assert.equal(memlock.code, 0);
    assert.match(memlock.out, /--window SIZE:PAGESIZE\[:LEVELS\]/);
    assert.match(memlock.out, /--json/);
    assert.equal(memlock.err, '');
  });

  const usageErrors: [string[], RegExp][] = [
    [[], /^vfio-spapr: ERR_USAGE: no command given/],
    [['frob'], /^vfio-spapr: ERR_USAGE: unknown command "frob"/],
    [['list', '--frob'], /^vfio-spapr list: ERR_USAGE: Unknown option '--frob'/],
    [['list', 'extra'], /^vfio-spapr list: ERR_USAGE: unexpected argument "extra"/],
    [['bind'], /^vfio-spapr bind: ERR_USAGE: missing BDF\.\.\./],
    [['info'], /^vfio-spapr info: ERR_USAGE: missing GROUP/],
    [['info', 'zero'], /^vfio-spapr info: ERR_USAGE: GROUP: "zero" is not an IOMMU group number/],
    [['info', '0', '1'], /^vfio-spapr info: ERR_USAGE: unexpected argument "1"/],
    [['memlock', '--register'], /^vfio-spapr memlock: ERR_USAGE: Option '--register <value>'/],
    [['memlock', '--register', '12Q'], /ERR_USAGE: --register: "12Q" is not a size/],
    [['memlock', '--window', '2G'], /ERR_USAGE: --window: "2G" is not SIZE:PAGESIZE/],
    [['memlock', '--window', '3G:64K'], /ERR_USAGE: --window: the window size must be a power/],
    [['memlock', '--window', '2G:5K'], /ERR_USAGE: --window: the IOMMU page size must be/],
    [['memlock', '--window', '2G:64K:9'], /ERR_USAGE: --window: LEVELS must be 1 to 5/],
    [['bind', '0000:01:00.0;reboot'], /^vfio-spapr bind: ERR_VFIO_INVALID_BDF: /],
    [['selftest', '1:2:3'], /^vfio-spapr selftest: ERR_VFIO_INVALID_BDF: /],
  ];
  for (const [argv, message] of usageErrors) {
    it(`exits 2 with one line for: vfio-spapr ${argv.join(' ')}`, async function () {
      const run = await cli(argv);
      assert.equal(run.code, 2);
      assert.match(run.err, message);
      assert.equal(run.err.split('\n').length, 1, run.err);
      assert.equal(run.out, '');
    });
  }

  it('points a usage error at the command help', async function () {
    const run = await cli(['memlock', '--frob']);
    assert.match(run.err, /\(see `vfio-spapr memlock --help`\)$/);
  });

  it('reports a usage error as JSON too under --json', async function () {
    const run = await cli(['info', 'x', '--json']);
    assert.equal(run.code, 2);
    assert.deepEqual(run.json(), {
      ok: false,
      error: {
        code: 'ERR_USAGE',
        message: 'GROUP: "x" is not an IOMMU group number (see `vfio-spapr info --help`)',
      },
    });
  });
});
