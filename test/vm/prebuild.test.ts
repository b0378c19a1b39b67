// What users get is what was tested: the guest (ppc64le) loads the cross-built prebuild
// from prebuilds/linux-ppc64/, through node-gyp-build, and nothing else.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { nativeBinding } from '../../lib/binding';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const PREBUILD = path.join(ROOT, 'prebuilds', 'linux-ppc64', 'node.napi.node');

describe('the shipped ppc64le prebuild (real kernel)', function () {
  it('is the addon node-gyp-build picks and the library loaded', function () {
    const load = require('node-gyp-build') as { path(dir: string): string };
    assert.equal(process.arch, 'ppc64');
    assert.equal(load.path(ROOT), PREBUILD);
    assert.equal(nativeBinding().targetArch, 'ppc64le');
    assert.ok(
      PREBUILD in require.cache,
      `loaded: ${Object.keys(require.cache).filter((k) => k.endsWith('.node'))}`,
    );
    assert.equal(fs.existsSync(path.join(ROOT, 'build')), false, 'no source build beside it');
  });
});
