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
async function runForMarker(marker, command, args, env = {}) {
  const { results, code } = await runForMarkers([marker], command, args, env);
  return { result: results[marker], code };
}

/** runForMarker for several markers: `results` maps each to its last JSON (or null). */
function runForMarkers(markers, command, args, env = {}) {
  const patterns = markers.map((marker) => [marker, new RegExp(`^${marker} (\\{.*\\})\\s*$`)]);
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...env },
    });
    const results = Object.fromEntries(markers.map((marker) => [marker, null]));
    let pending = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      pending += chunk.toString('utf8');
      const lines = pending.split(/\r?\n/);
      pending = lines.pop();
      for (const line of lines) {
        for (const [marker, pattern] of patterns) {
          const at = line.indexOf(marker);
          const match = at >= 0 ? pattern.exec(line.slice(at)) : null;
          if (match) results[marker] = JSON.parse(match[1]);
        }
      }
    });
    child.on('close', (code, signal) => resolve({ results, code: code ?? signal }));
  });
}

module.exports = { REPO, run, runForMarker, runForMarkers };
