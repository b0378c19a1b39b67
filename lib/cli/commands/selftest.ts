// `vfio-spapr selftest BDF`: the DMA round trip through the library on a QEMU edu device,
// each step printed as it happens; exit status 1 if the bytes differ or locked memory does
// not return to where it started.
import { parseBdf, Sysfs } from '../../index';
import { eduDmaRoundTrip } from '../../drivers';
import type { Command } from '../command';
import { formatBytes } from '../sizes';

export const selftest: Command = {
  name: 'selftest',
  synopsis: 'BDF',
  summary: 'a DMA round trip through an edu device, step by step (exit 1 on mismatch)',
  details: [
    "BDF must be QEMU's edu device (1234:11e8) bound to vfio-pci. The steps: open the " +
      'container, attach the group, v2, read the windows, allocate and register 64 KiB, map ' +
      'it, bus master on, DMA RAM -> device -> RAM, compare, tear down.',
  ],
  options: {},
  positionals: { min: 1, max: 1 },
  async run(ctx, args) {
    const bdf = parseBdf(args.positionals[0]);
    const steps: string[] = [];
    const result = await eduDmaRoundTrip(bdf, {
      binding: ctx.binding,
      sysfs: new Sysfs({ root: ctx.sysfsRoot }),
      log: (line) => {
        steps.push(line);
        if (!args.json) ctx.out(line);
      },
    });
    const verdict = result.ok
      ? `selftest ${result.bdf}: OK (${result.bytes} bytes each way, locked memory back to ${formatBytes(result.lockedAtEnd)})`
      : `selftest ${result.bdf}: FAILED (${result.match ? 'the bytes matched' : 'the bytes differ'}; ` +
        `locked memory ${formatBytes(result.lockedAtStart)} -> ${formatBytes(result.lockedAtEnd)})`;
    return { json: { ...result, steps }, text: verdict, exitCode: result.ok ? 0 : 1 };
  },
};
