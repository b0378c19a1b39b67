// What a command runs against: where it writes, which binding and which sysfs, /proc and
// state directory it uses. The defaults are the real ones; unit tests pass fakes.
import type { NativeBinding } from '../binding';

export interface CliContext {
  /** Writes one line (or block) of output for the user or the script. */
  out(text: string): void;
  /** Writes one line of diagnostics. */
  err(text: string): void;
  /** The native binding (undefined: the real addon, loaded when first needed). */
  binding?: NativeBinding;
  /** Where sysfs is mounted. */
  sysfsRoot: string;
  /** Where procfs is mounted. */
  procRoot: string;
  /** Where `bind` records each device's previous driver for `unbind`. */
  stateDir: string;
}

/** The state directory: $VFIO_SPAPR_STATE_DIR, else /run/vfio-spapr (tmpfs: gone at reboot). */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.VFIO_SPAPR_STATE_DIR || '/run/vfio-spapr';
}

export function createContext(overrides: Partial<CliContext> = {}): CliContext {
  return {
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
    sysfsRoot: '/sys',
    procRoot: '/proc',
    stateDir: defaultStateDir(),
    ...overrides,
  };
}
