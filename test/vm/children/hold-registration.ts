// Child process: registers and maps a large buffer, says READY, then waits to be killed.
import { Container, DmaBuffer } from '../../../lib';

const container = Container.open();
container.addGroup(Number(process.argv[2]));
container.setIommu('v2');
const buffer = DmaBuffer.allocate(Number(process.argv[3]));
buffer.bytes().fill(1);
const region = container.register(buffer);
container.map(region, 0n, { size: 65536 });
console.log('READY');
setInterval(() => undefined, 1000);
