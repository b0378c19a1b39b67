// Device interrupts through the library on the real kernel, with QEMU's edu device: MSI routed
// to an eventfd the library watches (the process's one epoll thread); INTx, which vfio-pci
// masks at each interrupt, kept going by an unmask per interrupt and by a resample eventfd (as
// KVM's resamplefd does); what vfio-pci refuses, typed; and the REQ index: an unbind from
// vfio-pci while the device is open asks for it back, the test closes it, the unbind completes.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import {
  Container,
  EventFd,
  InterruptNotSupportedError,
  InterruptsBusyError,
  Group,
  PCI_IRQ_INDEX,
  type Device,
  type DeviceRequestEvent,
} from '../../lib';
import { nativeBinding } from '../../lib/binding';
import { Edu } from '../../lib/drivers/edu';
import { guest } from './guest';
import { nextCount, sleep, within } from './waits';

/** edu's interrupt registers (big-endian like the rest of BAR0). */
const EDU_IRQ_STATUS = 0x24;
const EDU_IRQ_RAISE = 0x60;
const EDU_IRQ_ACK = 0x64;
const ROUNDS = 100;

describe('interrupts (real kernel, edu)', function () {
  let container: Container;
  let device: Device;
  let edu: Edu;

  before(function () {
    const { group, bdf } = guest().edu[0];
    container = Container.open();
    const g = container.addGroup(group);
    container.setIommu('v2');
    device = g.openDevice(bdf);
    device.enableBusMaster(); // MSI is a memory write by the device
    edu = new Edu(device);
  });

  after(function () {
    container?.close();
  });

  it('device.msi-eventfd: edu MSI arrives as an interrupt event, and stops after disable()', async function () {
    assert.ok(device.irqInfo(PCI_IRQ_INDEX.msi).count >= 1, 'edu offers one MSI vector');
    const interrupts = device.enableInterrupts(PCI_IRQ_INDEX.msi);
    const fired = new Promise<[number, bigint]>((resolve) =>
      interrupts.once('interrupt', (vector, count) => resolve([vector, count])),
    );
    edu.bar.write32(EDU_IRQ_RAISE, 0x5);
    const [vector, count] = await within(fired, 30000, 'MSI');
    assert.equal(vector, 0);
    assert.ok(count >= 1n);
    assert.equal(edu.bar.read32(EDU_IRQ_STATUS), 0x5);
    edu.bar.write32(EDU_IRQ_ACK, 0x5);
    assert.equal(edu.bar.read32(EDU_IRQ_STATUS), 0);

    interrupts.disable();
    let late = false;
    interrupts.on('interrupt', () => (late = true));
    edu.bar.write32(EDU_IRQ_RAISE, 0x1);
    await sleep(500);
    assert.equal(late, false, 'no event after disable()');
    edu.bar.write32(EDU_IRQ_ACK, 0x1);
  });

  it(`INTx: ${ROUNDS} interrupts in a row, each counted once, kept going by an unmask after each`, async function () {
    const info = device.irqInfo(PCI_IRQ_INDEX.intx);
    assert.deepEqual([info.count, info.maskable, info.automasked], [1, true, true]);
    const interrupts = device.enableInterrupts(PCI_IRQ_INDEX.intx);
    const counts: bigint[] = [];
    let wake: (() => void) | null = null;
    interrupts.on('interrupt', (vector, count) => {
      assert.equal(vector, 0);
      counts.push(count);
      wake?.();
    });
    try {
      for (let round = 0; round < ROUNDS; round += 1) {
        const fired = new Promise<void>((resolve) => (wake = resolve));
        edu.bar.write32(EDU_IRQ_RAISE, 0x1);
        await within(fired, 10000, `INTx ${round}`);
        assert.equal(edu.bar.read32(EDU_IRQ_STATUS), 0x1);
        edu.bar.write32(EDU_IRQ_ACK, 0x1); // the line goes down...
        device.unmaskInterrupt(PCI_IRQ_INDEX.intx); // ...and vfio-pci lets the next one through
      }
      await sleep(50);
      assert.equal(counts.length, ROUNDS);
      assert.ok(
        counts.every((c) => c === 1n),
        `each interrupt once: ${counts.join(',')}`,
      );
    } finally {
      interrupts.disable();
    }
  });

  it(`INTx with a resample eventfd (KVM's resamplefd): ${ROUNDS} more, the trigger eventfd read by the test itself`, async function () {
    const trigger = EventFd.create();
    const resample = EventFd.create();
    try {
      device.setInterruptTriggers(PCI_IRQ_INDEX.intx, [trigger]);
      device.setUnmaskEventfd(PCI_IRQ_INDEX.intx, resample);
      for (let round = 0; round < ROUNDS; round += 1) {
        edu.bar.write32(EDU_IRQ_RAISE, 0x2);
        assert.equal(await nextCount(trigger, `INTx ${round}`), 1n, `round ${round} counted once`);
        edu.bar.write32(EDU_IRQ_ACK, 0x2);
        resample.write(); // as KVM signals the guest's EOI: the kernel unmasks
      }
      // Masked now, an interrupt waits for the unmask; it then arrives, once.
      device.maskInterrupt(PCI_IRQ_INDEX.intx);
      edu.bar.write32(EDU_IRQ_RAISE, 0x4);
      await sleep(100);
      assert.equal(trigger.read(), 0n, 'nothing while masked');
      device.unmaskInterrupt(PCI_IRQ_INDEX.intx);
      assert.equal(await nextCount(trigger, 'INTx after unmask'), 1n);
      edu.bar.write32(EDU_IRQ_ACK, 0x4);
      device.unmaskInterrupt(PCI_IRQ_INDEX.intx);
    } finally {
      device.disableInterrupts(PCI_IRQ_INDEX.intx);
      trigger.close();
      resample.close();
    }
  });

  it('what vfio-pci refuses: masking MSI, MSI while INTx is on, masking INTx by eventfd (the kernel: ENOTTY, EINVAL, ENOTTY)', function () {
    const trigger = EventFd.create();
    const raw = nativeBinding();
    const c = raw.constants;
    try {
      device.setInterruptTriggers(PCI_IRQ_INDEX.msi, [trigger]);
      assert.throws(() => device.maskInterrupt(PCI_IRQ_INDEX.msi), InterruptNotSupportedError);
      assert.throws(
        () =>
          raw.deviceSetIrqs(
            device.fd,
            PCI_IRQ_INDEX.msi,
            0,
            1,
            c.VFIO_IRQ_SET_DATA_NONE | c.VFIO_IRQ_SET_ACTION_MASK,
          ),
        { code: 'ENOTTY' },
      );
      device.disableInterrupts(PCI_IRQ_INDEX.msi);
      device.setInterruptTriggers(PCI_IRQ_INDEX.intx, [trigger]);
      assert.throws(
        () => device.setInterruptTriggers(PCI_IRQ_INDEX.msi, [trigger]),
        InterruptsBusyError,
      );
      assert.throws(
        () =>
          raw.deviceSetIrqs(
            device.fd,
            PCI_IRQ_INDEX.msi,
            0,
            1,
            c.VFIO_IRQ_SET_DATA_EVENTFD | c.VFIO_IRQ_SET_ACTION_TRIGGER,
            [trigger.fd],
          ),
        { code: 'EINVAL' },
      );
      assert.throws(
        () => device.setMaskEventfd(PCI_IRQ_INDEX.intx, trigger),
        (error: unknown) =>
          error instanceof InterruptNotSupportedError && error.action === 'mask-eventfd',
      );
      // The loopback trigger: the kernel signals the INTx eventfd itself.
      device.triggerInterrupt(PCI_IRQ_INDEX.intx);
      assert.equal(trigger.read(), 1n);
    } finally {
      device.disableInterrupts(PCI_IRQ_INDEX.intx);
      device.disableInterrupts(PCI_IRQ_INDEX.msi);
      trigger.close();
    }
    // Off is off for the library; the kernel itself says EINVAL.
    assert.throws(
      () =>
        raw.deviceSetIrqs(
          device.fd,
          PCI_IRQ_INDEX.intx,
          0,
          0,
          c.VFIO_IRQ_SET_DATA_NONE | c.VFIO_IRQ_SET_ACTION_TRIGGER,
        ),
      { code: 'EINVAL' },
    );
  });
});

describe('the REQ index (real kernel, edu)', function () {
  it('an unbind from vfio-pci while the device is open delivers the request; closing the device lets the unbind finish', async function () {
    const { group, bdf } = guest().edu[1];
    const container = Container.open();
    let unbind: Promise<number | null> | null = null;
    try {
      const g = container.addGroup(group);
      container.setIommu('v2'); // the kernel gives device fds once the container has its IOMMU
      const device = g.openDevice(bdf);
      const requests: DeviceRequestEvent[] = [];
      const asked = new Promise<void>((resolve) => {
        device.onRequest((event) => {
          requests.push(event);
          device.close(); // what the kernel asks for
          resolve();
        });
      });
      // The unbind blocks until the device is closed: it runs in a child.
      const child = spawn('sh', ['-c', `echo ${bdf} > /sys/bus/pci/drivers/vfio-pci/unbind`], {
        stdio: 'inherit',
      });
      unbind = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
      await within(asked, 15000, 'the request event');
      assert.deepEqual(requests[0], { kind: 'request', device: bdf, count: requests[0].count });
      assert.ok(requests[0].count >= 1n);
      assert.equal(await within(unbind, 15000, 'the unbind'), 0, 'the unbind completed');
      assert.equal(fs.existsSync(`/sys/bus/pci/devices/${bdf}/driver`), false, 'no driver now');
    } finally {
      if (unbind) await unbind;
      container.close();
      // Back to vfio-pci (driver_override still says so) for the files after this one; the
      // group node comes back 0600: the suite also runs as uid 65534.
      if (!fs.existsSync(`/sys/bus/pci/devices/${bdf}/driver`)) {
        fs.writeFileSync('/sys/bus/pci/drivers_probe', bdf);
      }
      fs.chmodSync(`/dev/vfio/${group}`, 0o666);
    }
    assert.equal(
      fs.readlinkSync(`/sys/bus/pci/devices/${bdf}/driver`).split('/').pop(),
      'vfio-pci',
    );
    const again = Group.open(group);
    assert.equal(again.status().viable, true, 'the group is back, viable');
    again.close();
  });
});
