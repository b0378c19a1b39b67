// Garbage collection against a live device: every JS reference to registered and mapped
// buffers dropped (only the container kept), a forced full GC, then edu DMAs into them and out
// of them: the memory is still there, pinned and mapped, because the container's books hold
// the buffers. After unmap and unregister the last reference goes, and the next GC unmaps
// the memory (the native finalizer ran: the memfd mappings leave /proc/self/maps).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { Container, DmaBuffer } from '../../lib';
import { Edu } from '../../lib/drivers';
import { guest, vmLocked } from './guest';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const BUFFERS = 3;
const SIZE = 65536;
const COUNT = 4000;
const IOVA = 0x400000n;

function pattern(seed: number): Uint8Array {
  return Uint8Array.from({ length: COUNT }, (_, i) => (i * 13 + seed) & 0xff);
}

/** memfd mappings of this process, by start address (each buffer is its own memfd). */
function memfdMappings(): Set<bigint> {
  const starts = new Set<bigint>();
  for (const line of fs.readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    if (line.includes('/memfd:vfio-spapr')) starts.add(BigInt(`0x${line.split('-')[0]}`));
  }
  return starts;
}

async function collect(until: () => boolean = () => false): Promise<void> {
  for (let i = 0; i < 50 && !(i > 1 && until()); i += 1) {
    gc();
    // Node runs external-buffer finalizers in an immediate after the GC.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const SCRATCH_IOVA = 0x100000n;

/**
 * Out of buffer i (the device reads what the CPU wrote before the GC) into the scratch buffer,
 * then a new pattern from the device into buffer i, read back through the books' translation.
 * A function of its own: an async frame keeps its locals alive, and no handle to buffer i may
 * outlive this check.
 */
async function dmaBothWays(
  container: Container,
  edu: Edu,
  scratch: DmaBuffer,
  i: number,
  address: bigint,
): Promise<void> {
  const iova = IOVA + BigInt(i * SIZE);
  await edu.toDevice(iova, COUNT);
  scratch.bytes().fill(0, 0, COUNT);
  await edu.toRam(SCRATCH_IOVA, COUNT);
  assert.deepEqual(scratch.bytes().subarray(0, COUNT), pattern(i), `buffer ${i} read by DMA`);
  scratch.bytes().set(pattern(100 + i), 0);
  await edu.toDevice(SCRATCH_IOVA, COUNT);
  await edu.toRam(iova + 8192n, COUNT);
  const t = container.translate(iova + 8192n);
  assert.equal(t?.address, address + 8192n);
  const written = t?.region?.buffer?.bytes().slice(8192, 8192 + COUNT);
  assert.deepEqual(written, pattern(100 + i), `buffer ${i} written by DMA`);
}

describe('garbage collection with the device live (real kernel)', function () {
  it('buffers only the container holds survive a full GC, take DMA, and are unmapped once released', async function () {
    this.timeout(120000);
    const start = vmLocked();
    const container = Container.open();
    const { group, bdf } = guest().edu[0];
    try {
      container.addGroup(group);
      container.setIommu('v2');
      const edu = new Edu(container.groups()[0].openDevice(bdf));
      edu.device.enableBusMaster();
      const finalized: number[] = [];
      const registry = new FinalizationRegistry((i: number) => finalized.push(i));

      // Registered, mapped, filled, and every reference dropped when this function returns.
      const addresses = ((): bigint[] => {
        const out: bigint[] = [];
        for (let i = 0; i < BUFFERS; i += 1) {
          const buffer = DmaBuffer.allocate(SIZE, { backing: 'memfd' });
          buffer.bytes().set(pattern(i), 0);
          container.map(container.register(buffer), IOVA + BigInt(i * SIZE));
          registry.register(buffer, i);
          out.push(buffer.address);
        }
        return out;
      })();
      await collect();
      assert.deepEqual(finalized, [], 'no buffer the books hold was collected');
      for (const address of addresses) assert.ok(memfdMappings().has(address), 'still mapped');

      // A fresh buffer to read the device's copies back into.
      const scratch = DmaBuffer.allocate(SIZE);
      container.map(container.register(scratch), SCRATCH_IOVA);
      for (let i = 0; i < BUFFERS; i += 1)
        await dmaBothWays(container, edu, scratch, i, addresses[i]);
      // Release: unmap and unregister by range (no handle kept), then let the GC have them.
      for (let i = 0; i < BUFFERS; i += 1) {
        container.mappingAt(IOVA + BigInt(i * SIZE), SIZE).unmap();
        container.regionAt(addresses[i], SIZE).unregister();
      }
      await collect(() => finalized.length === BUFFERS);
      assert.deepEqual([...finalized].sort(), [0, 1, 2], 'every dropped buffer was collected');
      await collect(() => addresses.every((a) => !memfdMappings().has(a)));
      for (const address of addresses) {
        assert.ok(!memfdMappings().has(address), `buffer at 0x${address.toString(16)} unmapped`);
      }
    } finally {
      container.close();
    }
    assert.equal(vmLocked(), start);
  });
});
