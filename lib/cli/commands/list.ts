// `vfio-spapr list`: IOMMU groups, their devices and drivers, whether each group is viable,
// and which IOMMU types the host's VFIO offers.
import { Container, Sysfs } from '../../index';
import type { Command } from '../command';
import type { CliContext } from '../context';
import { table } from '../format';

type IommuProbe =
  | { available: true; spaprV2: boolean; spaprV1: boolean; eeh: boolean; type1: boolean }
  | { available: false; error: { code: string; message: string } };

/** Asks /dev/vfio/vfio which IOMMU types it offers; no VFIO is an answer, not a failure. */
function probeIommu(ctx: CliContext): IommuProbe {
  try {
    const container = Container.open({ binding: ctx.binding });
    try {
      return { available: true, ...container.extensions() };
    } finally {
      container.close();
    }
  } catch (error) {
    const e = error as Error & { code?: unknown };
    const code = typeof e.code === 'string' ? e.code : 'ERR_UNEXPECTED';
    return { available: false, error: { code, message: e.message } };
  }
}

function describeTypes(probe: IommuProbe): string {
  if (!probe.available) return `IOMMU types: none (${probe.error.code}: ${probe.error.message})`;
  const types = [
    probe.spaprV2 && 'SPAPR TCE v2',
    probe.spaprV1 && 'SPAPR TCE v1',
    probe.type1 && 'Type1',
    probe.eeh && 'EEH',
  ].filter(Boolean);
  return `IOMMU types offered by /dev/vfio/vfio: ${types.join(', ') || 'none'}`;
}

export const list: Command = {
  name: 'list',
  synopsis: '',
  summary: 'IOMMU groups, their devices and drivers, viability, and the IOMMU types offered',
  details: [
    'A group is viable when every device in it is bound to vfio-pci, to a driver that does no ' +
      'DMA of its own (pci-stub, pcieport) or to none: only then can it join a container.',
  ],
  options: {},
  positionals: { min: 0, max: 0 },
  run(ctx) {
    const groups = new Sysfs({ root: ctx.sysfsRoot }).listIommuGroups();
    const iommu = probeIommu(ctx);
    const rows = groups.flatMap((g) =>
      g.devices.map((d, i) => [
        i === 0 ? String(g.group) : '',
        i === 0 ? (g.viable ? 'yes' : 'no') : '',
        d.bdf,
        `${d.vendor}:${d.device}`,
        d.class,
        d.driver ?? '(none)',
      ]),
    );
    const text = [
      describeTypes(iommu),
      groups.length === 0
        ? 'no IOMMU groups: the kernel has no IOMMU enabled, or sysfs is not mounted'
        : table(['GROUP', 'VIABLE', 'DEVICE', 'ID', 'CLASS', 'DRIVER'], rows),
    ].join('\n');
    const json = {
      iommu,
      groups: groups.map((g) => ({
        group: g.group,
        viable: g.viable,
        devices: g.devices.map((d) => ({
          bdf: d.bdf,
          vendor: d.vendor,
          device: d.device,
          class: d.class,
          driver: d.driver,
        })),
      })),
    };
    return { json, text };
  },
};
