#!/usr/bin/env node
// The test command (`npm test`): builds, runs the host unit suite, then the real-kernel
// suite inside the emulated POWER8 and POWER9, each on the 4K and the 64K-page kernel, and
// prints one closing line `N passed, N failed` summing every suite it ran; each finding in a
// guest kernel's log (a WARN, BUG, Oops, corruption, new taint: docs/kernel-log.md) counts
// as a failure too.
//
//   node scripts/test.js [--host-only | --vm-only] [--kernel 4k,64k] [--machine powernv8|powernv9]
//                        [--files GLOB,GLOB] [--grep PATTERN]
//
// --files and --grep narrow a run while developing (mocha's spec globs relative to dist/test,
// e.g. `vm/dma.test.js`; mocha's --grep); the full command runs everything.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { REPO, run, runForMarkers } = require('./lib/run');

function parseArgs(argv) {
  const options = { host: true, vm: true, kernels: null, machine: null, files: null, grep: null };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--host-only') options.vm = false;
    else if (arg === '--vm-only') options.host = false;
    else if (arg === '--kernel') options.kernels = String(argv[++i]).split(',');
    else if (arg === '--machine') options.machine = String(argv[++i]);
    else if (arg === '--files') options.files = String(argv[++i]).split(',');
    else if (arg === '--grep') options.grep = String(argv[++i]);
    else {
      console.error(
        `test: unknown argument ${arg}\nusage: node scripts/test.js [--host-only | --vm-only] [--kernel 4k,64k] [--machine powernv8|powernv9] [--files GLOB,GLOB] [--grep PATTERN]`,
      );
      process.exit(2);
    }
  }
  for (const k of options.kernels ?? []) {
    if (k !== '4k' && k !== '64k') {
      console.error(`test: --kernel takes 4k and/or 64k, got ${k}`);
      process.exit(2);
    }
  }
  if (options.machine !== null && !['powernv8', 'powernv9'].includes(options.machine)) {
    console.error(`test: --machine takes powernv8 or powernv9, got ${options.machine}`);
    process.exit(2);
  }
  // Default: POWER8 (PHB3 host bridges) and POWER9 (PHB4), each on both kernels.
  const machines = options.machine === null ? ['powernv8', 'powernv9'] : [options.machine];
  options.configurations = machines.flatMap((m) =>
    (options.kernels ?? ['4k', '64k']).map((k) => [m, k]),
  );
  return options;
}

function step(title) {
  console.log(`\n=== ${title}`);
}

/**
 * Runs a suite, streaming its output, and returns the result its reporter printed (and, in
 * the guest, the kernel log's verdict).
 */
async function runSuite(name, command, args) {
  const { results, code } = await runForMarkers(
    ['VFIO_SUITE_RESULT', 'VFIO_KERNEL_LOG_RESULT'],
    command,
    args,
    { VFIO_SUITE_NAME: name },
  );
  return {
    name,
    result: results.VFIO_SUITE_RESULT,
    kernelLog: results.VFIO_KERNEL_LOG_RESULT,
    code,
  };
}

// --forbid-only: an `it.only` left in a file would silently narrow the run CI counts.
const MOCHA_ARGS = (files, timeout, options, extra = []) => [
  'node_modules/mocha/bin/mocha.js',
  '--forbid-only',
  '--reporter',
  'dist/test/support/summary-reporter.js',
  '--timeout',
  String(timeout),
  ...extra,
  ...(options.grep === null ? [] : ['--grep', options.grep]),
  ...files,
];

/**
 * The guest's command: mocha with the kernel-log hooks, then the kernel log's verdict on the
 * run (test/vm/kernel-log-check.ts) once every process of the suite has exited. The guest's
 * exit status stays mocha's; the verdict is counted from its result line.
 */
function guestCommand(suite, mocha) {
  const check = 'node dist/test/vm/kernel-log-check.js';
  return [
    'sh',
    '-c',
    `"$@"; s=$?; ${check}; exit $s`,
    'sh',
    'env',
    `VFIO_SUITE_NAME=${suite}`,
    ...mocha,
  ];
}

/** The spec files of a suite: its default glob, or the --files narrowing of that suite. */
function specFiles(options, suite, fallback) {
  if (options.files === null) return [fallback];
  const mine = options.files.filter((f) => f.startsWith(`${suite}/`));
  return mine.length > 0 ? mine.map((f) => `dist/test/${f}`) : [fallback];
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const outcomes = [];

  step('build: addon for this host (node-gyp) and TypeScript (tsc)');
  // The running Node's headers: node-gyp would try to download them, and there is no network.
  const nodedir = path.resolve(path.dirname(process.execPath), '..');
  run(process.execPath, [
    'node_modules/node-gyp/bin/node-gyp.js',
    'rebuild',
    `--nodedir=${nodedir}`,
  ]);
  // From an empty dist/: the output of a deleted test must not run.
  fs.rmSync(path.join(REPO, 'dist'), { recursive: true, force: true });
  run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.']);

  if (options.host) {
    step(
      'host suite: unit tests (ledger, memlock, errors, arguments, fake kernel, addon on this host)',
    );
    outcomes.push(
      await runSuite(
        'host',
        process.execPath,
        MOCHA_ARGS(specFiles(options, 'unit', 'dist/test/unit/**/*.test.js'), 20000, options),
      ),
    );
  }

  if (options.vm) {
    step('VM suite: cross-building the addon for ppc64le and assembling the guest payload');
    run('bash', ['scripts/cross-build.sh']);
    const payload = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-payload-'));
    try {
      run('bash', ['scripts/rig/payload.sh', payload]);
      for (const [machine, kernel] of options.configurations) {
        step(`VM suite on ${machine}, ${kernel} kernel: the real kernel, through the library`);
        const suite = `vm-${machine}-${kernel}`;
        const mocha = [
          'node',
          ...MOCHA_ARGS(specFiles(options, 'vm', 'dist/test/vm/*.test.js'), 300000, options, [
            '--require',
            'dist/test/vm/kernel-log-hooks.js',
          ]),
        ];
        outcomes.push(
          await runSuite(suite, 'bash', [
            'scripts/rig/run-vm.sh',
            '--kernel',
            kernel,
            '--machine',
            machine,
            '--timeout',
            '1500',
            '--payload',
            payload,
            '--',
            ...guestCommand(suite, mocha),
          ]),
        );
      }
    } finally {
      fs.rmSync(payload, { recursive: true, force: true });
    }
  }

  let passed = 0;
  let failed = 0;
  let skipped = 0;
  step('summary');
  for (const { name, result, code } of outcomes) {
    if (result === null) {
      failed += 1;
      console.log(`${name}: no result (exit ${code}): counted as one failure`);
      continue;
    }
    passed += result.passes;
    failed += result.failures;
    skipped += result.pending;
    if (code !== 0 && result.failures === 0) {
      failed += 1;
      console.log(`${name}: exit ${code} with no failing test: counted as one failure`);
    }
    console.log(
      `${name}: ${result.passes} passed, ${result.failures} failed, ${result.pending} skipped`,
    );
    for (const { test, error } of result.failed ?? []) {
      console.log(`  failed: ${test}\n    ${error}`);
    }
  }
  for (const { name, kernelLog } of outcomes.filter((o) => o.name.startsWith('vm-'))) {
    // Each finding is a failure: a WARN, BUG, Oops, corruption report or new taint that no
    // allowlisted test provoked (test/vm/kernel-log-allowlist.ts).
    if (kernelLog === null) {
      failed += 1;
      console.log(`${name} kernel log: no verdict (the check did not run): counted as one failure`);
      continue;
    }
    failed += kernelLog.findings.length;
    console.log(`${name} kernel log: ${kernelLog.findings.length} finding(s)`);
    for (const { where, lines } of kernelLog.findings) {
      console.log(`  kernel log ${where}: ${lines[0]}`);
      for (const line of lines.slice(1)) console.log(`    | ${line}`);
    }
  }
  console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exitCode = failed > 0 || outcomes.length === 0 ? 1 : 0;
}

main().catch((error) => {
  console.error(`test: ${error.message}`);
  console.log('0 passed, 1 failed');
  process.exitCode = 1;
});
