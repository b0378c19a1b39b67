// Helpers shared by the scripts that build, boot the rig and read results from it
// (scripts/test.js, scripts/bench.js).
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..');

/** Runs a command to completion in the repository, inheriting output; throws on failure. */
function run(command, args, env = {}) {
  const result = spawnSync(command, args, {
    cwd: REPO,
    stdio: 'inherit',
    env: { ...process.env, ...env },
  });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${result.status ?? result.signal}`);
  }
}

/**
 * Runs a command, streaming its output, and resolves with the JSON that followed the last
 * `MARKER {json}` line it printed (null when none) and its exit code. The guest console may
 * prefix lines with carriage returns or kernel noise: the marker is looked for anywhere.
 */
function runForMarker(marker, command, args, env = {}) {
  const pattern = new RegExp(`^${marker} (\\{.*\\})\\s*$`);
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...env },
    });
    let result = null;
    let pending = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      pending += chunk.toString('utf8');
      const lines = pending.split(/\r?\n/);
      pending = lines.pop();
      for (const line of lines) {
        const at = line.indexOf(marker);
        const match = at >= 0 ? pattern.exec(line.slice(at)) : null;
        if (match) result = JSON.parse(match[1]);
      }
    });
    child.on('close', (code, signal) => resolve({ result, code: code ?? signal }));
  });
}

module.exports = { REPO, run, runForMarker };
