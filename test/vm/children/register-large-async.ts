// Child process: starts an async registration of a large buffer and is killed in the middle
// of it by the parent (test/vm/faults.test.ts). Prints STARTED just before registering.
//   node register-large-async.js GROUP SIZE
import { Container, DmaBuffer } from '../../../lib';

async function main(): Promise<void> {
  const container = Container.open();
  container.addGroup(Number(process.argv[2]));
  container.setIommu('v2');
  const buffer = DmaBuffer.allocate(Number(process.argv[3]));
  buffer.bytes().fill(1);
  console.log('STARTED');
  await container.registerAsync(buffer);
  console.log('DONE');
  setInterval(() => undefined, 1000);
}

void main();
