// Runs the `vfio-spapr` command as users run it (`node dist/lib/cli/main.js ...`, a separate
// process) and collects what it printed; with --json, stdout parsed (a test fails on output
// that is not one JSON document).
import { spawn, type SpawnOptions } from 'node:child_process';
import * as path from 'node:path';

const MAIN = path.resolve(__dirname, '..', '..', 'lib', 'cli', 'main.js');

export interface Run {
  code: number | null;
  out: string;
  err: string;
  json: any;
}

export function vfioSpapr(args: string[], options: SpawnOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { ...options, stdio: 'pipe' });
    let out = '';
    let err = '';
    child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        const json = args.includes('--json') ? JSON.parse(out) : null;
        resolve({ code, out, err, json });
      } catch (error) {
        reject(new Error(`not JSON (${(error as Error).message}):\n${out}\n${err}`));
      }
    });
  });
}
