// The rig's package source (scripts/rig/debian-mirror.sh): the Debian archive the host's apt
// already uses, read from apt's own files in both formats, as a fresh Debian machine has them.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const SCRIPT = path.resolve(__dirname, '..', '..', '..', 'scripts', 'rig', 'debian-mirror.sh');

/** Runs the script over an apt configuration made of `files` (path under etc/apt -> text). */
function mirror(files: Record<string, string>, env: NodeJS.ProcessEnv = {}): [string, string] {
  const etc = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-apt-'));
  try {
    fs.mkdirSync(path.join(etc, 'sources.list.d'));
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(etc, name), text);
    const { RIG_DEBIAN_MIRROR: _unused, ...rest } = process.env;
    const run = spawnSync('bash', [SCRIPT, etc], { encoding: 'utf8', env: { ...rest, ...env } });
    assert.equal(run.status, 0, run.stderr);
    const [uri, from] = run.stdout.trimEnd().split('\t');
    return [uri, from.replace(etc, '<etc>')];
  } finally {
    fs.rmSync(etc, { recursive: true, force: true });
  }
}

describe('rig: the Debian mirror the host uses', function () {
  it('one-line format: skips comments, deb-src, the security and updates suites and options', function () {
    const got = mirror({
      'sources.list': [
        '# deb http://commented.example/debian bookworm main',
        'deb-src http://source.example/debian bookworm main',
        'deb http://security.example/debian-security bookworm-security main',
        'deb [ arch=amd64 signed-by=/usr/share/keyrings/x.gpg ] http://updates.example/debian bookworm-updates main',
        'deb http://contrib.example/debian bookworm contrib',
        'deb [arch=amd64] http://mirror.example/debian/ bookworm main contrib # the archive',
        'deb http://later.example/debian bookworm main',
        '',
      ].join('\n'),
    });
    assert.deepEqual(got, ['http://mirror.example/debian', '<etc>/sources.list']);
  });

  it('deb822 format: skips disabled stanzas and continuation lines, takes the first URI', function () {
    const got = mirror({
      'sources.list.d/debian.sources': [
        'Types: deb',
        'URIs: http://disabled.example/debian',
        'Suites: trixie',
        'Components: main',
        'Enabled: no',
        '',
        '# a comment between stanzas',
        'Types: deb-src deb',
        'URIs: mirror+file:///etc/apt/mirrors/debian.list http://second.example/debian',
        'Suites: trixie trixie-updates',
        'Components: main',
        'Signed-By:',
        ' -----BEGIN PGP PUBLIC KEY BLOCK-----',
        ' URIs: http://inside-a-key.example/debian',
        ' -----END PGP PUBLIC KEY BLOCK-----',
        '',
      ].join('\n'),
    });
    assert.deepEqual(got, [
      'mirror+file:///etc/apt/mirrors/debian.list',
      '<etc>/sources.list.d/debian.sources',
    ]);
  });

  it('reads sources.list first, then the parts in name order, and only *.list and *.sources', function () {
    const stanza = (uri: string) => `Types: deb\nURIs: ${uri}\nSuites: stable\nComponents: main\n`;
    const got = mirror({
      'sources.list': '# emptied by the installer\n',
      'sources.list.d/a.list.disabled': 'deb http://disabled.example/debian bookworm main\n',
      'sources.list.d/b-nodesource.sources': stanza(
        'https://deb.nodesource.example/node_20.x',
      ).replace('stable', 'nodistro'),
      'sources.list.d/c.sources': stanza('http://c.example/debian'),
      'sources.list.d/d.list': 'deb http://d.example/debian bookworm main\n',
    });
    assert.deepEqual(got, ['http://c.example/debian', '<etc>/sources.list.d/c.sources']);
  });

  it("falls back to Debian's redirector when apt names no Debian archive; RIG_DEBIAN_MIRROR overrides", function () {
    const ubuntu = { 'sources.list': 'deb http://archive.ubuntu.example/ubuntu jammy main\n' };
    assert.equal(mirror(ubuntu)[0], 'http://deb.debian.org/debian');
    assert.match(mirror(ubuntu)[1], /^fallback/);
    assert.deepEqual(mirror(ubuntu, { RIG_DEBIAN_MIRROR: 'http://override.example/debian' }), [
      'http://override.example/debian',
      'RIG_DEBIAN_MIRROR',
    ]);
  });
});
