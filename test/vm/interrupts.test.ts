// Device interrupts through the library on the real kernel: edu's MSI routed to an eventfd
// by VFIO_DEVICE_SET_IRQS, watched on the addon's own thread, delivered as an 'interrupt'.
import { strict as assert } from 'node:assert';
import { Container, PCI_IRQ_INDEX } from '../../lib';
import { Edu } from '../../lib/drivers/edu';
import { guest } from './guest';

/** edu's interrupt registers (big-endian like the rest of BAR0). */
const EDU_IRQ_STATUS = 0x24;
const EDU_IRQ_RAISE = 0x60;
const EDU_IRQ_ACK = 0x64;

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: none within ${ms} ms`)), ms),
    ),
  ]);
}

describe('interrupts (real kernel)', function () {
  it('device.msi-eventfd: edu MSI arrives as an interrupt event, and stops after disable()', async function () {
    const container = Container.open();
    try {
      const { group, bdf } = guest().edu[0];
      const g = container.addGroup(group);
      container.setIommu('v2');
      const device = g.openDevice(bdf);
      assert.ok(device.irqInfo(PCI_IRQ_INDEX.msi).count >= 1, 'edu offers one MSI vector');
      device.enableBusMaster(); // MSI is a memory write by the device
      const edu = new Edu(device);
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
      await new Promise((resolve) => setTimeout(resolve, 2000));
      assert.equal(late, false, 'no event after disable()');
      edu.bar.write32(EDU_IRQ_ACK, 0x1);
    } finally {
      container.close();
    }
  });
});
