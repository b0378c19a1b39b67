// `vfio-spapr info GROUP`: attaches the group to a fresh container and reports what VFIO
// says: the IOMMU type, the DMA32 window, dynamic-window support, the windows, and each
// device's resets (its own, and the devices and groups a hot reset of its bus touches),
// regions (with the parts a VMM must trap) and IRQs (flags decoded). Nothing is mapped or
// reset; closing the container releases it all.
import { Container, ResetNotSupportedError, Sysfs, type Device } from '../../index';
import type { Command } from '../command';
import { hex, indent, table } from '../format';
import { formatBytes } from '../sizes';
import { UsageError } from '../usage-error';

/** The decoded VFIO_IRQ_INFO_* flags, in the order the header names them. */
const IRQ_FLAGS = ['eventfd', 'maskable', 'automasked', 'noresize'] as const;

/** An IOMMU group number: N or /dev/vfio/N. */
export function parseGroup(text: string): number {
  const match = /^(?:\/dev\/vfio\/)?(\d{1,9})$/.exec(text);
  if (!match) throw new UsageError(`GROUP: ${JSON.stringify(text)} is not an IOMMU group number`);
  return Number(match[1]);
}

/** The devices and groups a hot reset touches; null when the device has no slot or bus reset. */
function hotReset(device: Device) {
  try {
    return device.hotResetInfo();
  } catch (error) {
    if (error instanceof ResetNotSupportedError) return null;
    throw error;
  }
}

function describeDevice(device: Device) {
  const info = device.info();
  const msix = device.msixLayout();
  const regions = device
    .regions()
    .filter((r) => r.size > 0n)
    .map((r) => ({
      index: r.index,
      name: r.name,
      size: r.size,
      offset: hex(r.offset),
      readable: r.readable,
      writable: r.writable,
      mappable: r.mappable,
      capabilities: r.capabilities.map((c) => c.kind),
      trapped: device
        .trappedAreas(r.index)
        .map((a) => ({ offset: hex(a.offset), size: a.size, reason: a.reason })),
    }));
  const irqs = device.irqs().map((irq) => ({
    index: irq.index,
    name: irq.name,
    count: irq.count,
    flags: IRQ_FLAGS.filter((flag) => irq[flag]),
  }));
  return {
    resettable: info.resettable,
    pci: info.isPci,
    hotReset: hotReset(device),
    msixVectors: msix?.vectors ?? 0,
    regions,
    irqs,
  };
}

export const info: Command = {
  name: 'info',
  synopsis: 'GROUP',
  summary:
    "a group's container and window info (DMA32 window, DDW), device resets, regions and IRQs",
  details: [
    'GROUP is the IOMMU group number (N of /dev/vfio/N). The group must be viable and not ' +
      'open elsewhere; it is attached to a new container with the SPAPR TCE v2 IOMMU (v1 on ' +
      'hosts without v2), read, and released.',
  ],
  options: {},
  positionals: { min: 1, max: 1 },
  run(ctx, args) {
    const number = parseGroup(args.positionals[0]);
    const sysfs = new Sysfs({ root: ctx.sysfsRoot });
    const members = sysfs.listIommuGroups().find((g) => g.group === number)?.devices ?? [];
    const container = Container.open({ binding: ctx.binding });
    try {
      const group = container.addGroup(number);
      const extensions = container.extensions();
      const type = extensions.spaprV2 ? 'v2' : 'v1';
      container.setIommu(type);
      const { dma32, ddw } = container.info();
      const windows = container.windows().map((w) => ({
        start: hex(w.start),
        size: w.size,
        pageSize: w.pageSize,
        levels: w.levels,
        default: w.isDefault,
      }));
      const devices = members
        .filter((d) => d.driver === 'vfio-pci')
        .map((d) => {
          const device = group.openDevice(d.bdf);
          try {
            return { bdf: d.bdf, vendor: d.vendor, device: d.device, ...describeDevice(device) };
          } finally {
            device.close();
          }
        });
      const json = {
        group: number,
        viable: true,
        iommuType: type,
        extensions,
        dma32: { start: hex(dma32.start), size: dma32.size },
        ddw: ddw && { maxWindows: ddw.maxWindows, levels: ddw.levels, pageSizes: ddw.pageSizes },
        windows,
        devices,
      };
      const lines = [
        `IOMMU group ${number}: viable, attached to a new container as SPAPR TCE ${type}`,
        `DMA32 window: ${formatBytes(dma32.size)} at ${hex(dma32.start)}`,
        ddw
          ? `dynamic windows: up to ${ddw.maxWindows}, table levels up to ${ddw.levels}, ` +
            `IOMMU page sizes ${ddw.pageSizes.map(formatBytes).join(', ')}`
          : 'dynamic windows: none (no DDW on this host)',
        'windows now:',
        indent(
          table(
            ['START', 'SIZE', 'PAGE', 'LEVELS', 'KIND'],
            windows.map((w) => [
              w.start,
              formatBytes(w.size),
              formatBytes(w.pageSize),
              String(w.levels),
              w.default ? 'default (its TCE table is created at the first map)' : 'dynamic',
            ]),
          ),
        ),
      ];
      for (const d of devices) {
        lines.push(
          `device ${d.bdf} (${d.vendor}:${d.device}): ${d.pci ? 'PCI' : 'not PCI'}, ` +
            `reset ${d.resettable ? 'supported' : 'not supported'}`,
          d.hotReset
            ? `  hot reset: resets ${d.hotReset.devices
                .map((t) => `${t.bdf} (group ${t.group})`)
                .join(', ')}; needs group(s) ${d.hotReset.groups.join(', ')} held`
            : '  hot reset: not supported (no slot or bus reset)',
          indent(
            table(
              ['REGION', 'SIZE', 'OFFSET', 'ACCESS', 'CAPABILITIES', 'TRAPPED'],
              d.regions.map((r) => [
                r.name,
                formatBytes(r.size),
                r.offset,
                [r.readable && 'r', r.writable && 'w', r.mappable && 'mmap']
                  .filter(Boolean)
                  .join(' '),
                r.capabilities.join(', ') || '-',
                r.trapped.map((a) => `${a.reason} ${a.offset}+${hex(a.size)}`).join(', ') || '-',
              ]),
            ),
          ),
          indent(
            table(
              ['IRQ', 'COUNT', 'FLAGS'],
              d.irqs.map((i) => [i.name, String(i.count), i.flags.join(', ') || '-']),
            ),
          ),
        );
      }
      if (devices.length === 0) lines.push('no device of this group is bound to vfio-pci');
      return { json, text: lines.join('\n') };
    } finally {
      container.close();
    }
  },
};
