// Passing a device through, as a VMM wires it: which parts of each BAR go into the guest by
// mmap and which the VMM traps (and serves through the device fd); the device's interrupts
// routed to eventfds that a real VMM hands to KVM (KVM_IRQFD, with a resamplefd for INTx), so
// no interrupt ever passes through JavaScript; the kernel asking for the device back (REQ);
// and the reset the VMM does when its guest reboots.
//
// There is no KVM here: the example plays KVM's part (it reads the irqfd and writes the
// resamplefd, as KVM does at the guest's EOI) and makes QEMU's edu device raise interrupts.
//
//   node dist/examples/vmm-device.js [BDF]   (default: the first edu device on vfio-pci)
import { Container, EventFd, PCI_IRQ_INDEX, type Device, type DeviceInterrupts } from '../lib';
import { Edu, findEduDevice } from '../lib/drivers';

export interface VmmDeviceResult {
  /** Per region: what went into the guest by mmap, and what the VMM traps. */
  regions: { name: string; mapped: string[]; trapped: string[] }[];
  /** Interrupts the "guest" received through the irqfds. */
  msi: number;
  intx: number;
  /** How a guest reboot resets the device. */
  reset: 'function' | 'hot' | 'none';
}

const hex = (v: bigint | number) => `0x${v.toString(16)}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** KVM's side of an irqfd, played here: wait for the device to signal it. */
async function guestSees(irqfd: EventFd): Promise<bigint> {
  for (let i = 0; i < 5000; i += 1) {
    const count = irqfd.read();
    if (count > 0n) return count;
    await sleep(1);
  }
  throw new Error('no interrupt reached the irqfd');
}

/** 1. Memory: map what the kernel lets the VMM map, trap the rest (MSI-X tables included). */
function layOut(device: Device, log: (line: string) => void): VmmDeviceResult['regions'] {
  return device
    .regions()
    .filter((r) => r.size > 0n && r.name !== 'CONFIG') // config space is always trapped
    .map((region) => {
      const mapped = region.mmapAreas.map((a) => `${hex(a.offset)}+${hex(a.size)}`);
      const trapped = device
        .trappedAreas(region.index)
        .map((a) => `${hex(a.offset)}+${hex(a.size)} (${a.reason})`);
      log(
        `${region.name}: map ${mapped.join(', ') || 'nothing'}; trap ${trapped.join(', ') || 'nothing'}`,
      );
      return { name: region.name, mapped, trapped };
    });
}

export async function vmmDevice(
  log: (line: string) => void = console.log,
  bdf?: string,
): Promise<VmmDeviceResult> {
  const found = findEduDevice(undefined, bdf);
  const container = Container.open();
  const irqfd = EventFd.create(); // a VMM: KVM_IRQFD for the guest's MSI
  const intxIrqfd = EventFd.create(); // KVM_IRQFD with KVM_IRQFD_FLAG_RESAMPLE...
  const resamplefd = EventFd.create(); // ...and its resamplefd
  let request: DeviceInterrupts | null = null;
  try {
    const group = container.addGroup(found.group);
    container.setIommu('v2');
    const device = group.openDevice(found.bdf);
    const regions = layOut(device, log);
    const edu = new Edu(device); // the VMM's own MMIO, for the demonstration
    device.enableBusMaster();

    // 2. The kernel may want the device back (an unbind, a hot unplug): unplug it from the
    //    guest, then close it; the kernel waits until then.
    request = device.onRequest((event) => {
      log(`REQ: the kernel asks for ${event.device} back`);
      device.close();
    });

    // 3. MSI: vector 0 to the guest's irqfd. The guest's writes to the MSI capability decide
    //    which vectors are on; each change is one setInterruptTriggers of that range.
    device.setInterruptTriggers(PCI_IRQ_INDEX.msi, [irqfd]);
    let msi = 0;
    for (let i = 0; i < 3; i += 1) {
      edu.bar.write32(0x60, 1); // the device raises an interrupt
      msi += Number(await guestSees(irqfd));
      edu.bar.write32(0x64, 1); // the guest's handler acks it
    }
    device.disableInterrupts(PCI_IRQ_INDEX.msi);
    log(`MSI: ${msi} interrupts reached the irqfd, none passed through JavaScript`);

    // 4. INTx: level-triggered, masked by vfio-pci at each interrupt; KVM's resamplefd (signalled
    //    at the guest's EOI) unmasks it in the kernel.
    device.setInterruptTriggers(PCI_IRQ_INDEX.intx, [intxIrqfd]);
    device.setUnmaskEventfd(PCI_IRQ_INDEX.intx, resamplefd);
    let intx = 0;
    for (let i = 0; i < 3; i += 1) {
      edu.bar.write32(0x60, 1);
      intx += Number(await guestSees(intxIrqfd));
      edu.bar.write32(0x64, 1); // the guest acks the device...
      resamplefd.write(); // ...and its EOI reaches KVM, which signals the resamplefd
    }
    device.disableInterrupts(PCI_IRQ_INDEX.intx);
    log(`INTx: ${intx} interrupts, each unmasked through the resamplefd`);

    // 5. The guest reboots: reset the device (its own reset, or a hot reset of its bus with
    //    every group the bus holds).
    let reset: VmmDeviceResult['reset'] = 'none';
    if (device.info().resettable) {
      device.reset();
      reset = 'function';
    } else {
      const { groups } = device.hotResetInfo();
      if (groups.every((g) => g === group.number)) {
        device.hotReset([group]);
        reset = 'hot';
      }
    }
    log(`guest reboot: ${reset} reset of ${found.bdf}`);
    return { regions, msi, intx, reset };
  } finally {
    request?.disable();
    container.close(); // closes the device: the kernel turns its interrupts off
    for (const fd of [irqfd, intxIrqfd, resamplefd]) fd.close();
  }
}

if (require.main === module) {
  vmmDevice(console.log, process.argv[2]).catch((error: unknown) => {
    console.error(`vmm-device failed: ${(error as Error).message}`);
    process.exitCode = 1;
  });
}
