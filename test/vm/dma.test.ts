// DMA end to end through the library: register a DmaBuffer, map it, program edu through its
// mmap'd BAR0 (bus master on), copy RAM -> device -> RAM through the real TCE translation.
import { strict as assert } from 'node:assert';
import { Container, DmaBuffer, PageSizeError, type Device } from '../../lib';
import { nativeBinding } from '../../lib/binding';
import { Edu } from '../../lib/drivers/edu';
import { guest } from './guest';

const COUNT = 4000;

function pattern(seed: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i += 1) bytes[i] = (i * 7 + seed) & 0xff;
  return bytes;
}

/** RAM at `iova` -> edu -> RAM at `iova + back`, then compares the bytes. */
async function roundTrip(edu: Edu, buffer: DmaBuffer, iova: bigint, seed: number): Promise<void> {
  const bytes = buffer.bytes();
  const back = 8192;
  bytes.set(pattern(seed, COUNT), 0);
  bytes.fill(0, back, back + COUNT);
  await edu.toDevice(iova, COUNT);
  await edu.toRam(iova + BigInt(back), COUNT);
  assert.deepEqual(bytes.subarray(back, back + COUNT), pattern(seed, COUNT));
}

function openEdu(container: Container, index: number): Edu {
  const { group, bdf } = guest().edu[index];
  const g = container.groups().find((x) => x.number === group) ?? container.addGroup(group);
  const device: Device = g.openDevice(bdf);
  device.enableBusMaster();
  return new Edu(device);
}

describe('DMA through edu (real TCE translation)', function () {
  let container: Container;
  let buffers: DmaBuffer[];
  beforeEach(function () {
    container = Container.open();
    container.addGroup(guest().edu[0].group);
    container.addGroup(guest().edu[1].group);
    container.setIommu('v2');
    buffers = [];
  });
  afterEach(function () {
    container.close();
    for (const buffer of buffers) if (!buffer.inUse) buffer.free();
  });
  function alloc(size: number): DmaBuffer {
    const buffer = DmaBuffer.allocate(size);
    buffers.push(buffer);
    return buffer;
  }

  it("edu answers through its mmap'd BAR0 (ID, liveness), byte-swapped", function () {
    const edu = openEdu(container, 0);
    assert.equal(edu.id() & 0xff, 0xed);
    assert.equal(edu.liveness(0x12345678), ~0x12345678 >>> 0);
  });

  it('device.dma-default-window: round-trips bytes RAM -> device -> RAM in the default window', async function () {
    const edu = openEdu(container, 0);
    const buffer = alloc(65536);
    const region = container.register(buffer);
    const mapping = container.map(region, 0x100000n);
    await roundTrip(edu, buffer, 0x100000n, 1);
    assert.equal(container.translate(0x100000n + 8192n)?.address, buffer.address + 8192n);
    mapping.unmap();
    region.unregister();
  });

  it('device.dma-two-groups: serves both edu devices (two groups) from one container and one mapping', async function () {
    const buffer = alloc(65536);
    const region = container.register(buffer);
    container.map(region, 0x200000n);
    await roundTrip(openEdu(container, 0), buffer, 0x200000n, 2);
    await roundTrip(openEdu(container, 1), buffer, 0x200000n, 3);
  });

  it('map.same-iova: a remap over a live IOVA is silently replaced by the kernel, and refused by the library', async function () {
    const edu = openEdu(container, 0);
    const a = alloc(65536);
    const bBuf = alloc(65536);
    container.register(a);
    container.register(bBuf);
    container.map(a, 0x300000n);
    a.bytes().fill(0xaa, 0, COUNT);
    bBuf.bytes().fill(0xbb, 0, COUNT);
    assert.throws(() => container.map(bBuf, 0x300000n), /overlaps the live mapping/);
    // The kernel, asked directly, replaces the translation: the device now reads B.
    nativeBinding().mapDma(container.fd, bBuf.address, 0x300000n, 65536n, 3);
    await edu.toDevice(0x300000n, COUNT);
    a.bytes().fill(0, 8192, 8192 + COUNT);
    await edu.toRam(0x300000n + 8192n, COUNT);
    assert.equal(bBuf.bytes()[8192], 0xbb, 'the device wrote into B: the translation was replaced');
  });

  it('device.dma-dynamic-window, window.64k-pages-ordinary-memory: DMAs inside a dynamic 64-bit window (64K IOMMU pages need 64K-backed memory)', async function () {
    const window = container.createWindow({ pageSize: 65536, size: 1n << 32n });
    assert.equal(window.start, 0x0800000000000000n);
    const buffer = alloc(131072);
    const region = container.register(buffer);
    if (nativeBinding().pageSize() < 65536) {
      assert.throws(
        () => container.map(region, window.start),
        (e: unknown) => {
          assert.ok(e instanceof PageSizeError);
          assert.match(
            e.message,
            /backed by 4096-byte pages, smaller than the window's 65536-byte IOMMU page/,
          );
          return true;
        },
      );
      return;
    }
    container.map(region, window.start);
    await roundTrip(openEdu(container, 0), buffer, window.start, 4);
  });
});
