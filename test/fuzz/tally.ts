// What a fuzz run saw: every call's outcome, counted by error code, and every failure that is
// not a typed error (with the step, so the seed replays it).
import { ArgumentRangeError, InvalidArgumentError, VfioError } from '../../lib';
import { FuzzTrapError } from './hostile';

/** Node's argument-error codes, which the native layer and Node's own APIs use. */
const ARGUMENT_CODES = new Set([
  'ERR_INVALID_ARG_TYPE',
  'ERR_INVALID_ARG_VALUE',
  'ERR_OUT_OF_RANGE',
]);

/** The code of a typed library error, or null when the error is not one. */
export function publicErrorCode(error: unknown): string | null {
  if (error instanceof FuzzTrapError) return 'FuzzTrapError';
  if (error instanceof VfioError)
    return /^(ERR_[A-Z0-9_]+|E[A-Z0-9]+)$/.test(error.code) ? error.code : null;
  if (error instanceof InvalidArgumentError || error instanceof ArgumentRangeError)
    return error.code;
  if (error instanceof TypeError || error instanceof RangeError) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && ARGUMENT_CODES.has(code) ? code : null;
  }
  return null;
}

/**
 * The code of a typed native error: TypeError/RangeError with Node's argument codes, or an
 * Error with an errno name (then also a negative errno and the syscall) or ERR_VFIO_*.
 */
export function nativeErrorCode(error: unknown): string | null {
  if (error instanceof FuzzTrapError) return 'FuzzTrapError';
  if (!(error instanceof Error)) return null;
  const e = error as Error & { code?: unknown; errno?: unknown; syscall?: unknown };
  if (typeof e.code !== 'string') return null;
  if (error instanceof TypeError || error instanceof RangeError) {
    return ARGUMENT_CODES.has(e.code) ? e.code : null;
  }
  if (/^ERR_VFIO_[A-Z0-9_]+$/.test(e.code)) return e.code;
  if (/^E[A-Z0-9]+$/.test(e.code)) {
    const ok = typeof e.errno === 'number' && e.errno < 0 && typeof e.syscall === 'string';
    return ok ? e.code : null;
  }
  return null;
}

export interface Failure {
  step: number;
  op: string;
  problem: string;
}

export class Tally {
  calls = 0;
  succeeded = 0;
  readonly codes = new Map<string, number>();
  /** Refusals the books let through that only the kernel can make, by call and errno. */
  readonly kernelOnlyRefusals = new Map<string, number>();
  /** Refusals that are known findings in the library, awaiting their fix. */
  readonly knownFindings = new Map<string, number>();
  readonly failures: Failure[] = [];
  private failureCount = 0;

  constructor(
    readonly name: string,
    readonly seed: number,
    private readonly classify: (error: unknown) => string | null,
  ) {}

  success(): void {
    this.calls += 1;
    this.succeeded += 1;
  }

  /** Counts a thrown error; a failure when it is not typed. */
  error(op: string, error: unknown): void {
    this.calls += 1;
    const code = this.classify(error);
    if (code === null) {
      this.fail(op, `untyped error: ${describeError(error)}`);
      return;
    }
    this.codes.set(code, (this.codes.get(code) ?? 0) + 1);
  }

  /** A broken invariant or an untyped error; `step` when it is not the current call. */
  fail(op: string, problem: string, step = this.calls): void {
    this.failureCount += 1;
    if (this.failures.length < 20) this.failures.push({ step, op, problem });
  }

  /** Counts a kernel refusal the verdict explains (kernel-refusals.ts). */
  explained(kind: 'kernel-only' | 'known', what: string): void {
    const counts = kind === 'kernel-only' ? this.kernelOnlyRefusals : this.knownFindings;
    counts.set(what, (counts.get(what) ?? 0) + 1);
  }

  get failed(): number {
    return this.failureCount;
  }

  /** One line for the log: calls, successes, typed errors and the commonest codes. */
  summary(): string {
    const top = [...this.codes.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([code, n]) => `${code} ${n}`)
      .join(', ');
    const typed = [...this.codes.values()].reduce((a, b) => a + b, 0);
    const list = (counts: Map<string, number>) =>
      [...counts.entries()].map(([what, n]) => `${what} ${n}`).join(', ');
    const kernelOnly = list(this.kernelOnlyRefusals);
    const known = list(this.knownFindings);
    return (
      `${this.name}: ${this.calls} calls (seed ${this.seed}): ${this.succeeded} succeeded, ` +
      `${typed} typed errors (${top}), ${this.failureCount} failures` +
      (kernelOnly ? `; kernel-only refusals: ${kernelOnly}` : '') +
      (known ? `; KNOWN LIBRARY FINDINGS (test/fuzz/kernel-refusals.ts): ${known}` : '')
    );
  }

  /** The failures, for an assertion message; names the seed that replays them. */
  report(): string {
    return (
      `${this.failureCount} failure(s) in ${this.name}; replay with VFIO_FUZZ_SEED=${this.seed}\n` +
      this.failures.map((f) => `  step ${f.step} ${f.op}: ${f.problem}`).join('\n')
    );
  }
}

export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const stack = (error.stack ?? '').split('\n').slice(0, 4).join(' | ');
    return `${error.constructor.name} code=${String(code)}: ${stack}`;
  }
  return `a thrown ${typeof error}: ${String(error)}`;
}
