// The devices a bind or unbind names: validated, deduplicated, looked up in sysfs, with the
// bind records beside them.
import { parseBdf, Sysfs, type PciDeviceInfo } from '../index';
import { BindState } from './bind-state';
import type { CliContext } from './context';

export interface Targets {
  sysfs: Sysfs;
  state: BindState;
  bdfs: string[];
  devices: PciDeviceInfo[];
}

/** Every address is checked before any device is looked up (a bad one is a usage error). */
export function resolveTargets(ctx: CliContext, positionals: string[]): Targets {
  const sysfs = new Sysfs({ root: ctx.sysfsRoot });
  const bdfs = [...new Set(positionals.map((bdf) => parseBdf(bdf)))];
  return {
    sysfs,
    state: new BindState(ctx.stateDir),
    bdfs,
    devices: bdfs.map((bdf) => sysfs.deviceInfo(bdf)),
  };
}
