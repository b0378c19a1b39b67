// Splits a command line into the command, its options and its positionals, with node's
// util.parseArgs (strict: an unknown option or a missing value is a usage error).
import { parseArgs } from 'node:util';
import type { Command, OptionSpec, ParsedArgs } from './command';
import { UsageError } from './usage-error';

/** Options every command takes. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  json: { type: 'boolean', description: 'print one JSON document (for scripts) instead of tables' },
  debug: { type: 'boolean', description: 'print the stack trace of an error' },
  help: { type: 'boolean', short: 'h', description: "print the command's help" },
};

/** The command name (the first word that is not an option) and the rest of the line. */
export function splitCommand(argv: string[]): { name: string | undefined; rest: string[] } {
  const index = argv.findIndex((arg) => !arg.startsWith('-'));
  if (index < 0) return { name: undefined, rest: argv };
  return { name: argv[index], rest: [...argv.slice(0, index), ...argv.slice(index + 1)] };
}

export function parseCommandArgs(command: Command, argv: string[]): ParsedArgs {
  const specs = { ...GLOBAL_OPTIONS, ...command.options };
  const options = Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => [
      name,
      {
        type: spec.type,
        ...(spec.multiple ? { multiple: true } : {}),
        ...(spec.short ? { short: spec.short } : {}),
      },
    ]),
  );
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      throw new UsageError((error as Error).message);
    }
    throw error;
  }
  const values = parsed.values as ParsedArgs['options'];
  const result: ParsedArgs = {
    options: values,
    positionals: parsed.positionals,
    json: values.json === true,
    debug: values.debug === true,
    help: values.help === true,
  };
  if (result.help) return result;
  const { min, max } = command.positionals;
  if (result.positionals.length < min) {
    throw new UsageError(`missing ${command.synopsis.split(' ')[result.positionals.length]}`);
  }
  if (result.positionals.length > max) {
    throw new UsageError(`unexpected argument ${JSON.stringify(result.positionals[max])}`);
  }
  return result;
}

/** The values of a repeatable string option. */
export function stringList(value: ParsedArgs['options'][string]): string[] {
  if (value === undefined || typeof value === 'boolean') return [];
  return Array.isArray(value) ? value : [value];
}
