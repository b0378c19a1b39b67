// Which addon file the package loads: node-gyp-build's order, and the environment variables
// that change it (docs/loading.md). Each case is a fresh process, since node-gyp-build reads
// the environment once, when it is required.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const LOADER = require.resolve('node-gyp-build');

/** A package tree laid out as vfio-spapr's: a source build and prebuilds for two arches. */
function packageTree(root: string): void {
  fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'vfio-spapr' }));
  for (const file of [
    'build/Release/vfio_spapr.node',
    `prebuilds/linux-${os.arch()}/node.napi.node`,
    'prebuilds/linux-ppc64/node.napi.node',
  ]) {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), '');
  }
}

/** The file node-gyp-build picks for the package at `root` under `env` (relative to root). */
function picked(root: string, env: Record<string, string>): string {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) =>
        !/^(PREBUILDS_ONLY|npm_config_(arch|platform)|LIBC|ARM_VERSION|VFIO_SPAPR_PREBUILD)$/.test(
          k,
        ),
    ),
  );
  const run = spawnSync(
    process.execPath,
    ['-e', `console.log(require(${JSON.stringify(LOADER)}).path(process.argv[1]))`, root],
    { encoding: 'utf8', env: { ...clean, ...env } },
  );
  assert.equal(run.status, 0, run.stderr);
  return path.relative(root, run.stdout.trim());
}

describe('which addon loads (node-gyp-build)', function () {
  let root: string;
  let other: string;
  before(function () {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-load-'));
    other = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-load-other-'));
    packageTree(root);
    fs.mkdirSync(path.join(other, 'build', 'Release'), { recursive: true });
    fs.writeFileSync(path.join(other, 'build', 'Release', 'elsewhere.node'), '');
  });
  after(function () {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(other, { recursive: true, force: true });
  });

  it('a source build in build/Release first, then prebuilds/<platform>-<arch>/', function () {
    assert.equal(picked(root, {}), 'build/Release/vfio_spapr.node');
    fs.renameSync(path.join(root, 'build'), path.join(root, 'build.off'));
    try {
      assert.equal(picked(root, {}), `prebuilds/linux-${os.arch()}/node.napi.node`);
    } finally {
      fs.renameSync(path.join(root, 'build.off'), path.join(root, 'build'));
    }
  });

  it('PREBUILDS_ONLY skips build/; npm_config_arch picks another prebuild directory', function () {
    assert.equal(
      picked(root, { PREBUILDS_ONLY: '1' }),
      `prebuilds/linux-${os.arch()}/node.napi.node`,
    );
    assert.equal(
      picked(root, { PREBUILDS_ONLY: '1', npm_config_arch: 'ppc64' }),
      'prebuilds/linux-ppc64/node.napi.node',
    );
  });

  it('VFIO_SPAPR_PREBUILD (the package name, upper-cased) replaces the package directory', function () {
    assert.equal(
      picked(root, { VFIO_SPAPR_PREBUILD: other }),
      path.relative(root, path.join(other, 'build', 'Release', 'elsewhere.node')),
    );
  });
});
