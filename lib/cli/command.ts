// The shape of one subcommand: its help, its options, and what it runs.
import type { CliContext } from './context';

export interface OptionSpec {
  type: 'boolean' | 'string';
  multiple?: boolean;
  short?: string;
  /** The value's placeholder in help, e.g. 'SIZE'. */
  value?: string;
  description: string;
}

export interface ParsedArgs {
  options: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  json: boolean;
  debug: boolean;
  help: boolean;
}

export interface CommandResult {
  /** What --json prints (main adds `ok`). */
  json: Record<string, unknown>;
  /** What a person sees. */
  text: string;
  /** 0 unless the command ran and found a failure (a mismatch, a plan that does not fit). */
  exitCode?: 0 | 1;
}

export interface Command {
  name: string;
  /** The positional part of the synopsis, e.g. 'BDF...'. */
  synopsis: string;
  summary: string;
  /** Paragraphs of the command's --help. */
  details: string[];
  options: Record<string, OptionSpec>;
  positionals: { min: number; max: number };
  run(ctx: CliContext, args: ParsedArgs): CommandResult | Promise<CommandResult>;
}
