// Container.mapMany on the real kernel: a batch of ranges mapped in one native call, and a
// DMA through one of them by edu (the bytes cross the real TCE translation).
import { strict as assert } from 'node:assert';
import { Container, DmaBuffer, MappingOverlapError } from '../../lib';
import { Edu } from '../../lib/drivers/edu';
import { guest } from './guest';

const COUNT = 4000;
const PIECE = 0x4000;

describe('mapMany: a batch of mappings in one native call', function () {
  let container: Container;
  let buffer: DmaBuffer;
  beforeEach(function () {
    container = Container.open();
    container.addGroup(guest().edu[0].group);
    container.setIommu('v2');
    buffer = DmaBuffer.allocate(0x10000);
  });
  afterEach(function () {
    container.close();
    buffer.free();
  });

  it('maps four ranges at scattered IOVAs; edu DMAs through the third', async function () {
    const region = container.register(buffer);
    const iova = (i: number) => 0x200000n + BigInt(i) * 0x30000n;
    const mappings = container.mapMany(
      [0, 1, 2, 3].map((i) => ({ source: region, iova: iova(i), offset: i * PIECE, size: PIECE })),
    );
    assert.deepEqual(
      mappings.map((m) => m.iova),
      [0, 1, 2, 3].map(iova),
    );
    assert.equal(region.mappingCount, 4);

    const device = container.groups()[0].openDevice(guest().edu[0].bdf);
    device.enableBusMaster();
    const edu = new Edu(device);
    const bytes = buffer.bytes();
    const base = 2 * PIECE;
    for (let i = 0; i < COUNT; i += 1) bytes[base + i] = (i * 13 + 5) & 0xff;
    bytes.fill(0, base + 8192, base + 8192 + COUNT);
    await edu.toDevice(iova(2), COUNT);
    await edu.toRam(iova(2) + 8192n, COUNT);
    assert.deepEqual(
      bytes.subarray(base + 8192, base + 8192 + COUNT),
      bytes.subarray(base, base + COUNT),
    );
    edu.close();

    for (const m of mappings) m.unmap();
    region.unregister();
  });

  it('refuses a batch whose ranges overlap, mapping none of them', function () {
    const region = container.register(buffer);
    assert.throws(
      () =>
        container.mapMany([
          { source: region, iova: 0x100000n, size: PIECE },
          { source: region, iova: 0x102000n, offset: PIECE, size: PIECE },
        ]),
      MappingOverlapError,
    );
    assert.equal(container.mappings().length, 0);
    // Nothing reached the kernel: the first range maps now, and the region unregisters clean.
    container.map(region, 0x100000n, { size: PIECE }).unmap();
    region.unregister();
  });
});
