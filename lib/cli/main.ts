#!/usr/bin/env node
// The `vfio-spapr` command: finds the subcommand, parses its options, runs it, and prints
// the result as a table or as JSON (--json). A failure is one line on stderr naming the
// error's code and what to do (and, with --json, a JSON document on stdout too); a stack
// trace only with --debug. Exit status: 0 ok, 1 failed, 2 usage.
import { parseCommandArgs, splitCommand } from './args';
import type { CommandResult } from './command';
import { COMMANDS } from './commands';
import { createContext, type CliContext } from './context';
import { describeFailure } from './failure';
import { toJson } from './format';
import { commandHelp, mainHelp } from './help';
import { UsageError } from './usage-error';

/** Runs one command line; resolves to the exit status. */
export async function runCli(argv: string[], overrides: Partial<CliContext> = {}): Promise<number> {
  const ctx = createContext(overrides);
  const json = argv.includes('--json');
  const debug = argv.includes('--debug');
  let { name, rest } = splitCommand(argv);
  if (name === 'help') {
    name = splitCommand(rest).name;
    rest = ['--help'];
    if (name === undefined) {
      ctx.out(mainHelp(COMMANDS));
      return 0;
    }
  }
  const wantsHelp = rest.includes('--help') || rest.includes('-h');
  if (name === undefined && wantsHelp) {
    ctx.out(mainHelp(COMMANDS));
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  try {
    if (command === undefined) {
      throw new UsageError(
        name === undefined
          ? `no command given (commands: ${COMMANDS.map((c) => c.name).join(', ')})`
          : `unknown command ${JSON.stringify(name)} (commands: ${COMMANDS.map((c) => c.name).join(', ')})`,
      );
    }
    const args = parseCommandArgs(command, rest);
    if (args.help) {
      ctx.out(commandHelp(command));
      return 0;
    }
    const result: CommandResult = await command.run(ctx, args);
    const exitCode = result.exitCode ?? 0;
    ctx.out(json ? toJson({ ok: exitCode === 0, ...result.json }) : result.text);
    return exitCode;
  } catch (error) {
    const failure = describeFailure(error, command?.name);
    const where = command ? `vfio-spapr ${command.name}` : 'vfio-spapr';
    ctx.err(`${where}: ${failure.code}: ${failure.message}`);
    if (debug && error instanceof Error && error.stack) ctx.err(error.stack);
    if (json)
      ctx.out(toJson({ ok: false, error: { code: failure.code, message: failure.message } }));
    return failure.exitCode;
  }
}

if (require.main === module) {
  runCli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`vfio-spapr: ERR_UNEXPECTED: ${String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
