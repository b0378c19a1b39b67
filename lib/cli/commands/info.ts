// `vfio-spapr info GROUP`: attaches the group to a fresh container and reports what VFIO
// says: the IOMMU type, the DMA32 window, dynamic-window support, the windows, and each
// device's regions and IRQs. Nothing is mapped; closing the container releases it all.
import { Container, Sysfs, type Device } from '../../index';
import type { Command } from '../command';
import { hex, indent, table } from '../format';
import { formatBytes } from '../sizes';
import { UsageError } from '../usage-error';

const IRQ_NAMES = ['INTX', 'MSI', 'MSIX', 'ERR', 'REQ'];
/** VFIO_IRQ_INFO_* flags (the same on every architecture). */
const IRQ_FLAGS: [number, string][] = [
  [1, 'eventfd'],
  [2, 'maskable'],
  [4, 'automasked'],
  [8, 'noresize'],
];

/** An IOMMU group number: N or /dev/vfio/N. */
export function parseGroup(text: string): number {
  const match = /^(?:\/dev\/vfio\/)?(\d{1,9})$/.exec(text);
  if (!match) throw new UsageError(`GROUP: ${JSON.stringify(text)} is not an IOMMU group number`);
  return Number(match[1]);
}

/**
 * The regions or IRQ indexes the device has, of `count`: the kernel answers EINVAL for an
 * index this device lacks (VGA on a device that is not VGA, ERR without AER).
 */
function present<T>(count: number, read: (index: number) => T): T[] {
  const found: T[] = [];
  for (let index = 0; index < count; index += 1) {
    try {
      found.push(read(index));
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'EINVAL') throw error;
    }
  }
  return found;
}

function describeDevice(device: Device) {
  const info = device.info();
  const regions = present(info.regionCount, (i) => device.region(i))
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
    }));
  const irqs = present(info.irqCount, (i) => device.irqInfo(i)).map((irq) => ({
    index: irq.index,
    name: IRQ_NAMES[irq.index] ?? `IRQ${irq.index}`,
    count: irq.count,
    flags: IRQ_FLAGS.filter(([bit]) => irq.flags & bit).map(([, name]) => name),
  }));
  return { resettable: info.resettable, pci: info.isPci, regions, irqs };
}

export const info: Command = {
  name: 'info',
  synopsis: 'GROUP',
  summary: "a group's container and window info (DMA32 window, DDW), device regions and IRQs",
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
          indent(
            table(
              ['REGION', 'SIZE', 'OFFSET', 'ACCESS', 'CAPABILITIES'],
              d.regions.map((r) => [
                r.name,
                formatBytes(r.size),
                r.offset,
                [r.readable && 'r', r.writable && 'w', r.mappable && 'mmap']
                  .filter(Boolean)
                  .join(' '),
                r.capabilities.join(', ') || '-',
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
