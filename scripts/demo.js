#!/usr/bin/env node
// The main job (`npm run demo`): a DMA round trip through the library, step by step.
// On a POWER host with VFIO it runs right here; anywhere else it boots the emulated POWER8
// (QEMU powernv8, Debian's real ppc64el kernel, an edu device on vfio-pci) and runs there.
//
//   node scripts/demo.js [--kernel 4k|64k] [--verbose]
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..');
const EXAMPLE = 'dist/examples/dma-round-trip.js';

function parseArgs(argv) {
  const options = { kernel: '4k', verbose: false };
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--kernel' && ['4k', '64k'].includes(argv[i + 1])) options.kernel = argv[++i];
    else if (argv[i] === '--verbose') options.verbose = true;
    else {
      console.error('usage: node scripts/demo.js [--kernel 4k|64k] [--verbose]');
      process.exit(2);
    }
  }
  return options;
}

/** Runs a build step quietly; on failure shows its output and stops. */
function quietly(title, command, args) {
  process.stdout.write(`${title}... `);
  const started = Date.now();
  const result = spawnSync(command, args, { cwd: REPO, encoding: 'utf8' });
  if (result.status !== 0) {
    console.log('failed');
    process.stdout.write(result.stdout ?? '');
    process.stderr.write(result.stderr ?? '');
    process.exit(1);
  }
  console.log(`done (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

/** The ppc64le prebuild exists and is newer than every native source it is built from. */
function prebuildIsCurrent() {
  const prebuild = path.join(REPO, 'prebuilds', 'linux-ppc64', 'node.napi.node');
  if (!fs.existsSync(prebuild)) return false;
  const built = fs.statSync(prebuild).mtimeMs;
  const sources = [
    'binding.gyp',
    ...fs.readdirSync(path.join(REPO, 'native')).map((f) => `native/${f}`),
  ];
  return sources.every((file) => fs.statSync(path.join(REPO, file)).mtimeMs < built);
}

function nativeHost() {
  return process.arch === 'ppc64' && fs.existsSync('/dev/vfio/vfio');
}

function runHere() {
  quietly('building the addon and the TypeScript', 'npm', ['run', '--silent', 'build']);
  const child = spawn(process.execPath, [EXAMPLE], { cwd: REPO, stdio: 'inherit' });
  child.on('close', (code) => process.exit(code ?? 1));
}

function runInEmulator(options) {
  console.log('No POWER host with VFIO here: the demo runs on an emulated POWER8 (QEMU powernv8,');
  console.log("PHB3/IODA2) booting Debian's real ppc64el kernel with the real VFIO modules.\n");
  quietly('preparing the emulator and the guest image (cached after the first run)', 'bash', [
    'scripts/rig/prepare.sh',
  ]);
  quietly('compiling the TypeScript', process.execPath, [
    'node_modules/typescript/bin/tsc',
    '-p',
    '.',
  ]);
  if (prebuildIsCurrent()) console.log('the ppc64le addon is up to date (prebuilds/linux-ppc64)');
  else quietly('cross-compiling the addon for ppc64le', 'bash', ['scripts/cross-build.sh']);
  const payload = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-demo-'));
  quietly('assembling the guest payload', 'bash', ['scripts/rig/payload.sh', payload]);

  const started = Date.now();
  let booted = false;
  const progress = setInterval(() => {
    if (!booted) {
      process.stdout.write(
        `\rbooting the emulated POWER8 (${options.kernel} kernel)... ${Math.round((Date.now() - started) / 1000)} s`,
      );
    }
  }, 1000);
  const child = spawn(
    'bash',
    [
      'scripts/rig/run-vm.sh',
      '--kernel',
      options.kernel,
      '--payload',
      payload,
      '--timeout',
      '300',
      '--',
      'node',
      EXAMPLE,
    ],
    { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let pending = '';
  let tail = [];
  const onLine = (line) => {
    tail = [...tail.slice(-39), line];
    if (options.verbose) return console.log(line);
    if (/^rig-init: kernel /.test(line)) {
      booted = true;
      clearInterval(progress);
      console.log(
        `\rbooted in ${Math.round((Date.now() - started) / 1000)} s: ${line.replace(/^rig-init: /, '').replace(/, cmdline:.*/, '')}`,
      );
    } else if (/^rig-init: .* -> vfio-pci/.test(line)) {
      console.log(`  ${line.replace(/^rig-init: /, '')}`);
    } else if (/^(locked memory|\d+\. |DMA round trip)/.test(line)) {
      console.log(line);
    }
  };
  const onData = (chunk) => {
    pending += chunk.toString('utf8').replace(/\r/g, '');
    const lines = pending.split('\n');
    pending = lines.pop();
    lines.forEach(onLine);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  child.on('close', (code) => {
    clearInterval(progress);
    fs.rmSync(payload, { recursive: true, force: true });
    if (code !== 0 && !options.verbose) {
      console.log(
        `\nthe demo failed (exit ${code}); the last lines from the guest:\n${tail.join('\n')}`,
      );
    }
    console.log(`\n(${Math.round((Date.now() - started) / 1000)} s from boot to power-off)`);
    process.exit(code ?? 1);
  });
}

const options = parseArgs(process.argv.slice(2));
if (nativeHost()) runHere();
else runInEmulator(options);
