// Child process: starts an async registration of a large buffer and is killed in the middle
// of it by the parent (test/vm/faults.test.ts). The buffer is left untouched so that the
// kernel faults every page in while it pins, which keeps the ioctl long enough to be caught.
// Prints STARTED and its locked bytes just before registering.
//   node register-large-async.js GROUP SIZE
import { Container, DmaBuffer } from '../../../lib';
import { nativeBinding } from '../../../lib/binding';

async function main(): Promise<void> {
  const container = Container.open();
  container.addGroup(Number(process.argv[2]));
  container.setIommu('v2');
  const buffer = DmaBuffer.allocate(Number(process.argv[3]));
  console.log(`STARTED ${nativeBinding().vmLockedBytes()}`);
  await container.registerAsync(buffer);
  console.log('DONE');
  setInterval(() => undefined, 1000);
}

void main();
