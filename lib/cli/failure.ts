// An error, as the command line reports it: one line naming the error's stable code and
// what to do, and the exit status (2 for a command line that cannot run, 1 for a failure).
import { UsageError } from './usage-error';

export interface Failure {
  code: string;
  message: string;
  exitCode: 1 | 2;
}

/** Codes whose messages do not already say what to do, and what to do. */
const REMEDIES: Record<string, string> = {
  ENOENT: 'no such IOMMU group or device here: see `vfio-spapr list`',
  ERR_VFIO_CLOSED: 'this is a bug in the command: run it again with --debug and report it',
};

/** Usage errors: the command line, not the system, is at fault. */
const USAGE_CODES = new Set(['ERR_USAGE', 'ERR_VFIO_INVALID_BDF', 'ERR_VFIO_UNSUPPORTED_DEVICE']);

/** `command`: the subcommand's name, to point a usage error at its --help. */
export function describeFailure(error: unknown, command?: string): Failure {
  const e = error instanceof Error ? error : new Error(String(error));
  const raw = (e as { code?: unknown }).code;
  const code = typeof raw === 'string' ? raw : 'ERR_UNEXPECTED';
  let message = e.message.replace(/\s*\n\s*/g, ' ').trim();
  const remedy =
    code === 'ERR_USAGE' ? `see \`vfio-spapr ${command ?? 'COMMAND'} --help\`` : REMEDIES[code];
  if (remedy && !message.includes(remedy)) message = `${message} (${remedy})`;
  const exitCode = error instanceof UsageError || USAGE_CODES.has(code) ? 2 : 1;
  return { code, message, exitCode };
}
