// Child process run as uid 65534 under an 8 MiB RLIMIT_MEMLOCK: one 6 MiB range registered
// from two containers of this process and from a third in a worker_thread (which shares the
// mm), overlaps refused, and the library's prediction read against VmLck at every step. The
// parent passes the three group numbers; the report is one JSON line.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Container, DmaBuffer, RegionOverlapError } from '../../../lib';
import { nativeBinding } from '../../../lib/binding';

const MiB = 1n << 20n;
const b = nativeBinding();

function open(group: number): Container {
  const c = Container.open();
  c.addGroup(group);
  c.setIommu('v2');
  return c;
}

function outcome(call: () => unknown): string {
  try {
    call();
    return 'OK';
  } catch (error) {
    const e = error as { code?: string; scope?: string };
    return e instanceof RegionOverlapError ? `${e.code}:${e.scope}` : String(e.code ?? error);
  }
}

if (!isMainThread) {
  // The worker: its own container; the same range, then an overlapping one.
  const { group, address, size } = workerData as { group: number; address: bigint; size: bigint };
  const c = open(group);
  // The overlap first: once this container holds the range, its own books would refuse it.
  const overlap = outcome(() => c.registerCallerOwnedMemory(address + MiB, 2n * MiB));
  const identical = outcome(() => c.registerCallerOwnedMemory(address, size));
  parentPort?.postMessage({ identical, overlap, predicted: c.memlock().locked.toString() });
  parentPort?.once('message', () => {
    c.regionAt(address, size).unregister();
    c.close();
    parentPort?.postMessage({ released: true });
  });
} else {
  void main();
}

async function main(): Promise<void> {
  const [g0, g1, g2] = process.argv.slice(2).map(Number);
  const steps: Record<string, unknown>[] = [];
  const start = b.vmLockedBytes();
  const step = (name: string, result: string, predicted: bigint) =>
    steps.push({
      name,
      result,
      locked: (b.vmLockedBytes() - start).toString(),
      predicted: (predicted - start).toString(),
    });
  const buffer = DmaBuffer.allocate(6n * MiB);
  buffer.bytes().fill(1);
  const c0 = open(g0);
  const c1 = open(g1);
  step(
    'c0 registers 6 MiB',
    outcome(() => c0.register(buffer)),
    c0.memlock().locked,
  );
  // c1's own books are empty: only the process's registry can refuse these.
  step(
    'c1 registers an overlapping range',
    outcome(() => c1.registerCallerOwnedMemory(buffer.address + MiB, 2n * MiB)),
    c1.memlock().locked,
  );
  let asyncOverlap = 'OK';
  try {
    await c1.registerCallerOwnedMemoryAsync(buffer.address + 2n * MiB, 2n * MiB);
  } catch (error) {
    asyncOverlap = `${(error as RegionOverlapError).code}:${(error as RegionOverlapError).scope}`;
  }
  step('c1 registers an overlapping range, async', asyncOverlap, c1.memlock().locked);
  step(
    'c1 registers the same range',
    outcome(() => c1.register(buffer)),
    c1.memlock().locked,
  );

  const worker = new Worker(__filename, {
    workerData: { group: g2, address: buffer.address, size: 6n * MiB },
  });
  const fromWorker = await new Promise<Record<string, string>>((resolve) =>
    worker.once('message', resolve),
  );
  step('a worker registers an overlapping range', fromWorker.overlap, c0.memlock().locked);
  step('a worker registers the same range', fromWorker.identical, BigInt(fromWorker.predicted));

  step(
    'c0 unregisters (c1 and the worker hold it)',
    outcome(() => c0.regionAt(buffer.address, buffer.size).unregister()),
    c0.memlock().locked,
  );
  step(
    'c1 unregisters (the worker holds it)',
    outcome(() => c1.regionAt(buffer.address, buffer.size).unregister()),
    c1.memlock().locked,
  );
  worker.postMessage('release');
  await new Promise((resolve) => worker.once('message', resolve));
  await worker.terminate();
  step('the worker unregisters: the last holder', 'OK', c0.memlock().locked);
  c0.close();
  c1.close();
  buffer.free();
  console.log(
    JSON.stringify({
      uid: process.getuid?.(),
      capIpcLock: b.hasCapIpcLock(),
      steps,
      lockedAtEnd: (b.vmLockedBytes() - start).toString(),
    }),
  );
}
