// Runs the vfio-spapr command in-process against fakes and captures what it prints.
import type { CliContext } from '../../lib/cli/context';
import { runCli } from '../../lib/cli/main';

export interface CliRun {
  code: number;
  out: string;
  err: string;
  /** stdout parsed as JSON (for --json runs). */
  json<T = Record<string, unknown>>(): T;
}

export async function cli(argv: string[], context: Partial<CliContext> = {}): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, {
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    ...context,
  });
  const stdout = out.join('\n');
  return { code, out: stdout, err: err.join('\n'), json: () => JSON.parse(stdout) };
}
