#!/usr/bin/env node
// The package's install hook. A prebuilt addon ships for linux-x64 and linux-ppc64
// (prebuilds/, loaded by node-gyp-build): where one loads, nothing is built. Elsewhere (or
// with npm_config_build_from_source=true) the addon is built with node-gyp, and if that
// cannot work, this says what is missing (a C++ compiler, make, Python, Node's headers)
// instead of leaving the user with node-gyp's stack trace.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const PLATFORM = `${process.platform}-${process.arch}`;

function say(line) {
  process.stderr.write(`vfio-spapr: ${line}\n`);
}

function onPath(command) {
  if (command.includes('/')) return fs.existsSync(command) ? command : null;
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const candidate = path.join(dir || '.', command);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** The addon that loads here (a prebuild, or an earlier source build), or null. */
function loadableAddon() {
  try {
    const load = require('node-gyp-build');
    const file = load.path(ROOT);
    require(file);
    return file;
  } catch {
    return null;
  }
}

/** Node's headers next to the running node (node-gyp would otherwise download them). */
function localNodedir() {
  const dir = path.resolve(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(dir, 'include', 'node', 'node_api.h')) ? dir : null;
}

/** What a node-gyp build needs and this machine lacks. */
function missingTools() {
  const missing = [];
  const cxx = process.env.CXX ? process.env.CXX.split(' ')[0] : null;
  if (cxx ? !onPath(cxx) : !['c++', 'g++', 'clang++'].some(onPath)) {
    missing.push(
      `a C++17 compiler (${cxx ? `CXX=${cxx} is not found` : 'no c++, g++ or clang++ on PATH'}; e.g. apt install g++)`,
    );
  }
  if (!onPath('make')) missing.push('make (e.g. apt install make)');
  const python = process.env.npm_config_python || process.env.PYTHON;
  if (python ? !onPath(python) : !onPath('python3')) {
    missing.push('Python 3, which node-gyp runs (e.g. apt install python3)');
  }
  return missing;
}

function nodeGypCommand() {
  if (process.env.npm_config_node_gyp) return [process.execPath, process.env.npm_config_node_gyp];
  try {
    return [process.execPath, require.resolve('node-gyp/bin/node-gyp.js', { paths: [ROOT] })];
  } catch {
    const bin = onPath('node-gyp');
    return bin ? [bin] : null;
  }
}

function diagnose(output, nodedir) {
  if (
    /getaddrinfo|ENOTFOUND|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|self.signed|certificate/i.test(output)
  ) {
    return (
      "node-gyp could not download Node's headers. Install them (Debian/Ubuntu: apt install " +
      'libnode-dev; or the headers tarball from nodejs.org) and set npm_config_nodedir to the ' +
      'directory holding include/node'
    );
  }
  if (/node_api\.h|node\.h|napi\.h.*No such file/.test(output)) {
    return `Node's headers are missing${nodedir ? ` under ${nodedir}` : ''}: set npm_config_nodedir to a directory holding include/node/node_api.h`;
  }
  if (/not found|No such file/.test(output) && /(g\+\+|c\+\+|cc1plus|make)/.test(output)) {
    return 'the compiler or make could not be run: install g++ and make';
  }
  return 'see the node-gyp output above';
}

function main() {
  const fromSource = /^(true|1)$/.test(process.env.npm_config_build_from_source || '');
  if (!fromSource) {
    const addon = loadableAddon();
    if (addon) return 0;
  }
  const reason = fromSource
    ? 'npm_config_build_from_source is set'
    : `no prebuilt addon for ${PLATFORM} (prebuilt: linux-x64, linux-ppc64)`;
  say(`${reason}: building the native addon from source with node-gyp`);
  const missing = missingTools();
  if (missing.length > 0) {
    say(`cannot build the native addon: this machine lacks ${missing.join('; ')}.`);
    return 1;
  }
  const nodeGyp = nodeGypCommand();
  if (!nodeGyp) {
    say(
      'cannot build the native addon: node-gyp is not found (npm bundles it: run through npm install)',
    );
    return 1;
  }
  const nodedir = process.env.npm_config_nodedir || localNodedir();
  const args = [...nodeGyp.slice(1), 'rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
  const result = spawnSync(nodeGyp[0], args, { cwd: ROOT, encoding: 'utf8' });
  process.stdout.write(result.stdout || '');
  process.stderr.write(result.stderr || '');
  if (result.status === 0) return 0;
  say(
    `building the native addon failed (${result.error ? result.error.message : `node-gyp exited ${result.status}`}): ` +
      diagnose(`${result.stdout}\n${result.stderr}`, nodedir),
  );
  return 1;
}

if (require.main === module) process.exitCode = main();
module.exports = { missingTools, diagnose };
