// `vfio-spapr selftest BDF`: DMA through the library on a device the test knows, each step
// printed as it happens: QEMU's edu device (a round trip RAM -> device -> RAM), or an NVMe
// controller (Identify through the default and a dynamic window, read-only: the media is
// never written). Exit status 1 when the bytes differ or locked memory does not return to
// where it started; a device of another kind, or one a host driver holds, is refused first.
import { Sysfs, parseBdf, type PciDeviceInfo } from '../../index';
import { EDU_DEVICE, EDU_VENDOR, NVME_CLASS, eduDmaRoundTrip, nvmeSelftest } from '../../drivers';
import { DriverBindError, UnsupportedDeviceError } from '../../errors';
import type { Command } from '../command';
import { formatBytes } from '../sizes';

type Kind = 'edu' | 'nvme';

/** The device's kind, checked to be on vfio-pci: refused before anything is opened. */
function kindOf(d: PciDeviceInfo): Kind {
  const kind: Kind | null =
    d.vendor === EDU_VENDOR && d.device === EDU_DEVICE
      ? 'edu'
      : d.class === NVME_CLASS
        ? 'nvme'
        : null;
  if (kind === null) {
    throw new UnsupportedDeviceError({
      bdf: d.bdf,
      vendor: d.vendor,
      device: d.device,
      pciClass: d.class,
    });
  }
  if (d.driver !== 'vfio-pci' || d.iommuGroup === null) {
    throw new DriverBindError({
      device: d.bdf,
      problem:
        d.driver === null
          ? `${d.bdf} (${kind}) is bound to no driver, not vfio-pci: run \`vfio-spapr bind ${d.bdf}\` as root`
          : `${d.bdf} (${kind}) is held by the host driver ${d.driver}, not vfio-pci: the self-test ` +
            `does not take a device from the host; if nothing on the host uses it (for NVMe: no ` +
            `mounted filesystem, no swap, no RAID member), run \`vfio-spapr bind ${d.bdf}\` as root`,
    });
  }
  return kind;
}

export const selftest: Command = {
  name: 'selftest',
  synopsis: 'BDF',
  summary: 'DMA through an NVMe controller or an edu device, step by step (exit 1 on a mismatch)',
  details: [
    'BDF must be bound to vfio-pci (see `vfio-spapr bind`); a device a host driver holds is ' +
      'refused, and so is a device the test does not know (exit status 2).',
    'NVMe controller (PCI class 0x010802): the controller is reset and enabled with its admin ' +
      'queues in memory mapped in the default 32-bit window, asked Identify Controller and ' +
      'Identify Namespace 1, then the same again through a dynamic DMA window; the answers must ' +
      'be the same bytes and make sense. Only Identify is sent: nothing is written to the media, ' +
      'and the controller is left disabled (a host driver resets it when it takes it back).',
    "QEMU's edu device (1234:11e8): open the container, attach the group, v2, register and map " +
      '64 KiB, bus master on, DMA RAM -> device -> RAM, compare, tear down.',
    'Either way, locked memory must be back where it started at the end.',
  ],
  options: {},
  positionals: { min: 1, max: 1 },
  async run(ctx, args) {
    const sysfs = new Sysfs({ root: ctx.sysfsRoot });
    const device = sysfs.deviceInfo(parseBdf(args.positionals[0]));
    const kind = kindOf(device);
    const steps: string[] = [];
    const log = (line: string) => {
      steps.push(line);
      if (!args.json) ctx.out(line);
    };
    const options = { binding: ctx.binding, sysfs, log };
    if (kind === 'nvme') {
      const result = await nvmeSelftest(device.bdf, options);
      const pass = result.passes[0];
      const verdict = result.ok
        ? `selftest ${result.bdf}: OK (NVMe "${pass.model}" serial "${pass.serial}": Identify alike ` +
          `through the ${result.passes.map((p) => p.window).join(' and the ')} window, locked ` +
          `memory back to ${formatBytes(result.lockedAtEnd)})`
        : `selftest ${result.bdf}: FAILED (${result.identical ? 'the answers matched' : 'the answers differ between the windows'}` +
          `${result.problems.length ? `; ${result.problems.join('; ')}` : ''}; locked memory ` +
          `${formatBytes(result.lockedAtStart)} -> ${formatBytes(result.lockedAtEnd)})`;
      return { json: { ...result, steps }, text: verdict, exitCode: result.ok ? 0 : 1 };
    }
    const result = await eduDmaRoundTrip(device.bdf, options);
    const verdict = result.ok
      ? `selftest ${result.bdf}: OK (${result.bytes} bytes each way, locked memory back to ${formatBytes(result.lockedAtEnd)})`
      : `selftest ${result.bdf}: FAILED (${result.match ? 'the bytes matched' : 'the bytes differ'}; ` +
        `locked memory ${formatBytes(result.lockedAtStart)} -> ${formatBytes(result.lockedAtEnd)})`;
    return {
      json: { device: 'edu', ...result, steps },
      text: verdict,
      exitCode: result.ok ? 0 : 1,
    };
  },
};
