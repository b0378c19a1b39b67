// worker_thread: its own container on one edu group, through the library (the addon is
// context-aware: each worker loads its own instance). Cycles register/map/DMA/unmap/unregister,
// then holds a registration and a mapping until the main thread says release.
import { parentPort, workerData } from 'node:worker_threads';
import { Container, DmaBuffer } from '../../../lib';
import { Edu } from '../../../lib/drivers';

const { group, bdf, cycles } = workerData as { group: number; bdf: string; cycles: number };
const COUNT = 2000;

async function main(): Promise<void> {
  const container = Container.open();
  container.addGroup(group);
  container.setIommu('v2');
  const edu = new Edu(container.groups()[0].openDevice(bdf));
  edu.device.enableBusMaster();
  for (let i = 0; i < cycles; i += 1) {
    const buffer = DmaBuffer.allocate(65536);
    const iova = 0x100000n + BigInt((i % 8) * 65536);
    const mapping = container.map(await container.registerAsync(buffer), iova);
    const bytes = buffer.bytes();
    for (let j = 0; j < COUNT; j += 1) bytes[j] = (j + i + group) & 0xff;
    await edu.toDevice(iova, COUNT);
    await edu.toRam(iova + 8192n, COUNT);
    for (let j = 0; j < COUNT; j += 1) {
      if (bytes[8192 + j] !== ((j + i + group) & 0xff)) throw new Error(`cycle ${i}: byte ${j}`);
    }
    mapping.unmap();
    container.regionAt(buffer.address, 65536).unregister();
    buffer.free();
  }
  const held = DmaBuffer.allocate(2 * 1024 * 1024);
  container.map(container.register(held), 0x400000n);
  parentPort?.postMessage({ holding: (2n * 1024n * 1024n + 8n * 1024n * 1024n).toString() });
  parentPort?.once('message', () => {
    container.close();
    held.free();
    parentPort?.postMessage({ done: true });
  });
}

main().catch((error: unknown) => {
  throw error;
});
