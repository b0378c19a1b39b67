#!/usr/bin/env node
// `npm run prebuild`: the prebuilt addons the npm package ships, in prebuilds/ where
// node-gyp-build looks: linux-x64 by prebuildify (N-API, stripped) and linux-ppc64 by the
// powerpc64le cross toolchain (scripts/cross-build.sh). Both use the running Node's own
// headers (no download: N-API is the same on every version and architecture).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { REPO: ROOT, run } = require('./lib/run');

const NODEDIR = path.resolve(path.dirname(process.execPath), '..');

if (!fs.existsSync(path.join(NODEDIR, 'include', 'node', 'node_api.h'))) {
  console.error(`prebuild: no Node headers under ${NODEDIR}/include/node`);
  process.exit(1);
}
if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(
    'prebuild: run on linux-x64 (it builds the x64 addon natively, ppc64le by cross compiler)',
  );
  process.exit(1);
}
// prebuildify 6 names the file NAME.node; NAME 'node.napi' gives node.napi.node, the
// tags node-gyp-build reads as "N-API, any runtime", as the ppc64le file is named.
fs.rmSync(path.join(ROOT, 'prebuilds', 'linux-x64'), { recursive: true, force: true });
run(
  process.execPath,
  [
    'node_modules/prebuildify/bin.js',
    '--napi',
    '--strip',
    '--name',
    'node.napi',
    '--target',
    `node@${process.versions.node}`,
  ],
  { npm_config_nodedir: NODEDIR },
);
run('bash', ['scripts/cross-build.sh']);
for (const dir of ['linux-x64', 'linux-ppc64']) {
  const file = path.join('prebuilds', dir, 'node.napi.node');
  console.log(`prebuild: ${file} (${fs.statSync(path.join(ROOT, file)).size} bytes)`);
}
