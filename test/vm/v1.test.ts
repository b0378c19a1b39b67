// The v1 IOMMU through the library: ENABLE charges the whole window, maps need no
// registration, and v2-only calls are refused with typed errors.
import { strict as assert } from 'node:assert';
import { Container, DmaBuffer, IommuTypeError, NotEnabledError } from '../../lib';
import { Edu } from '../../lib/drivers/edu';
import { guest, vmLocked } from './guest';

describe('v1 IOMMU (real kernel)', function () {
  it('v1.enable-charge: enables (+2 GiB locked), maps without registration, DMAs, refuses v2 calls', async function () {
    const start = vmLocked();
    const container = Container.open();
    const buffer = DmaBuffer.allocate(65536);
    try {
      const group = container.addGroup(guest().edu[0].group);
      container.setIommu('v1');
      assert.equal(container.info().ddw, null);
      assert.throws(() => container.map(buffer, 0x100000n), NotEnabledError);
      assert.throws(() => container.register(buffer), IommuTypeError);
      assert.throws(
        () => container.createWindow({ pageSize: 65536, size: 1n << 32n }),
        IommuTypeError,
      );
      const before = vmLocked();
      container.enable();
      assert.equal(vmLocked() - before, container.info().dma32.size);
      const mapping = container.map(buffer, 0x100000n);
      const device = group.openDevice(guest().edu[0].bdf);
      device.enableBusMaster();
      const edu = new Edu(device);
      buffer.bytes().fill(0x5a, 0, 1000);
      await edu.toDevice(0x100000n, 1000);
      await edu.toRam(0x100000n + 4096n, 1000);
      assert.ok(
        buffer
          .bytes()
          .subarray(4096, 5096)
          .every((x) => x === 0x5a),
      );
      mapping.unmap();
      container.disable();
      assert.equal(vmLocked() - before, 8n << 20n, 'the default table stays until close');
    } finally {
      container.close();
      buffer.free();
    }
    assert.equal(vmLocked(), start, 'close frees the table');
  });
});
