// `vfio-spapr unbind BDF...`: takes devices from vfio-pci and gives each back the driver it
// had before `bind` (from the record bind left), or, for a device this tool did not bind,
// lets the kernel reprobe it. Refuses while a process holds the group open: the kernel's
// unbind would wait, uninterruptibly, until that process closes it.
import { DriverBindError } from '../../index';
import type { Command } from '../command';
import { table } from '../format';
import { resolveTargets } from '../targets';
import { openersOf } from '../openers';

export const unbind: Command = {
  name: 'unbind',
  synopsis: 'BDF...',
  summary: 'give devices back from vfio-pci to their previous drivers (root)',
  details: [
    'A device bound by `vfio-spapr bind` goes back to the driver recorded then (or stays ' +
      'without a driver if it had none); any other device on vfio-pci is reprobed by the kernel.',
    'A device not on vfio-pci is left alone.',
  ],
  options: {},
  positionals: { min: 1, max: Infinity },
  run(ctx, args) {
    const { sysfs, state, devices } = resolveTargets(ctx, args.positionals);
    for (const d of devices) {
      if (d.driver !== 'vfio-pci' || d.iommuGroup === null) continue;
      const node = `/dev/vfio/${d.iommuGroup}`;
      const openers = openersOf(ctx.procRoot, node);
      if (openers.length > 0) {
        throw new DriverBindError({
          device: d.bdf,
          problem:
            `${node} (the group of ${d.bdf}) is open in ` +
            openers.map((o) => `process ${o.pid} (${o.command})`).join(', ') +
            ': the kernel would wait until it is closed; stop that process first',
        });
      }
    }
    const results = devices.map((d) => {
      if (d.driver !== 'vfio-pci') {
        return { bdf: d.bdf, group: d.iommuGroup, driver: d.driver, changed: false, how: 'left' };
      }
      const record = state.read(d.bdf);
      const restore = record?.previousDriver ?? null;
      const now = sysfs.unbindFromVfioPci(d.bdf, restore, { reprobe: record === null });
      if (restore !== null && now !== restore) {
        throw new DriverBindError({
          device: d.bdf,
          problem: `${d.bdf} left vfio-pci but did not go back to ${restore} (driver now: ${now ?? 'none'}); see dmesg`,
        });
      }
      state.forget(d.bdf);
      const how = record === null ? 'reprobed' : 'restored';
      return { bdf: d.bdf, group: d.iommuGroup, driver: now, changed: true, how };
    });
    const explain: Record<string, string> = {
      left: 'not on vfio-pci: left alone',
      restored: 'restored the driver recorded by bind',
      reprobed: 'no bind record: the kernel reprobed it',
    };
    const text = table(
      ['DEVICE', 'GROUP', 'NOW', 'HOW'],
      results.map((r) => [r.bdf, String(r.group ?? '-'), r.driver ?? '(none)', explain[r.how]]),
    );
    return { json: { devices: results }, text };
  },
};
