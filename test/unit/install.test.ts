// The install hook (scripts/install.js): a prebuilt or built addon that loads means nothing
// to do; a source build that cannot work says what is missing instead of failing in node-gyp.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const SCRIPT = path.resolve(__dirname, '..', '..', '..', 'scripts', 'install.js');

function install(env: NodeJS.ProcessEnv) {
  return spawnSync(process.execPath, [SCRIPT], { encoding: 'utf8', env });
}

describe('install hook', function () {
  it('does nothing when an addon for this platform loads', function () {
    const run = install({ ...process.env, npm_config_build_from_source: '' });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stderr, '');
  });

  it('names every missing build tool instead of running node-gyp without them', function () {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-no-tools-'));
    try {
      const run = install({ PATH: empty, npm_config_build_from_source: 'true' });
      assert.equal(run.status, 1);
      const lines = run.stderr.trim().split('\n');
      assert.deepEqual(lines, [
        'vfio-spapr: npm_config_build_from_source is set: building the native addon from source with node-gyp',
        'vfio-spapr: cannot build the native addon: this machine lacks a C++17 compiler (no c++, ' +
          'g++ or clang++ on PATH; e.g. apt install g++); make (e.g. apt install make); Python 3, ' +
          'which node-gyp runs (e.g. apt install python3).',
      ]);
    } finally {
      fs.rmSync(empty, { recursive: true });
    }
  });

  it('names a CXX that does not exist', function () {
    const run = install({
      ...process.env,
      CXX: '/nonexistent/g++',
      npm_config_build_from_source: 'true',
    });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /lacks a C\+\+17 compiler \(CXX=\/nonexistent\/g\+\+ is not found/);
  });

  it("explains node-gyp's failures: headers it could not download, headers missing", function () {
    const { diagnose } = require(SCRIPT) as {
      diagnose(output: string, nodedir: string | null): string;
    };
    assert.match(
      diagnose('gyp ERR! stack Error: getaddrinfo ENOTFOUND nodejs.org', null),
      /could not download Node's headers.*npm_config_nodedir/,
    );
    assert.match(
      diagnose('fatal error: node_api.h: No such file or directory', '/opt/node'),
      /Node's headers are missing under \/opt\/node/,
    );
  });
});
