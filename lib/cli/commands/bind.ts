// `vfio-spapr bind BDF...`: hands devices to vfio-pci (driver_override, unbind, reprobe),
// recording each one's previous driver so that `unbind` can give it back. Refuses, before
// writing anything, when a device's group holds other devices still bound to host drivers:
// the group could not be used through VFIO anyway.
import { GroupNotViableError } from '../../index';
import type { Command } from '../command';
import { table } from '../format';
import { resolveTargets } from '../targets';

export const bind: Command = {
  name: 'bind',
  synopsis: 'BDF...',
  summary: 'move devices to vfio-pci, remembering their previous drivers (root)',
  details: [
    'BDF is a PCI address, DDDD:BB:DD.F (a bare BB:DD.F means domain 0000).',
    'Every other device of each group must be bound to vfio-pci or unbound, or be named too: ' +
      'a group is given to VFIO whole.',
    'The previous driver of each device is recorded in $VFIO_SPAPR_STATE_DIR ' +
      '(default /run/vfio-spapr/BDF.json) for `vfio-spapr unbind`.',
  ],
  options: {},
  positionals: { min: 1, max: Infinity },
  run(ctx, args) {
    const { sysfs, state, bdfs, devices } = resolveTargets(ctx, args.positionals);
    for (const d of devices) {
      const blockers = sysfs.hostBoundPeers(d.bdf).filter((peer) => !bdfs.includes(peer.bdf));
      if (blockers.length > 0) {
        throw new GroupNotViableError({
          group: d.iommuGroup as number,
          device: d.bdf,
          blockers: blockers.map((p) => ({ bdf: p.bdf, driver: p.driver as string })),
        });
      }
    }
    const results = devices.map((d) => {
      const changed = d.driver !== 'vfio-pci';
      // Recorded before the move: a bind that fails halfway can still be undone by unbind.
      const record = changed ? state.record(d.bdf, d.driver) : state.read(d.bdf);
      if (changed) sysfs.bindToVfioPci(d.bdf);
      return {
        bdf: d.bdf,
        group: d.iommuGroup,
        /** The driver unbind will restore (null: none, or not bound by this tool). */
        previousDriver: record?.previousDriver ?? null,
        driver: sysfs.driverOf(d.bdf),
        changed,
        vfioNode: d.iommuGroup === null ? null : `/dev/vfio/${d.iommuGroup}`,
        stateFile: record === null ? null : state.fileOf(d.bdf),
      };
    });
    const text = table(
      ['DEVICE', 'GROUP', 'BEFORE', 'NOW', 'NODE'],
      results.map((r) => [
        r.bdf,
        String(r.group ?? '-'),
        r.changed ? (r.previousDriver ?? '(none)') : 'vfio-pci (already)',
        r.driver ?? '(none)',
        r.vfioNode ?? '-',
      ]),
    );
    return { json: { devices: results }, text };
  },
};
