// Child process: registers its own memory on the container fd inherited as fd 3 and prints
// the outcome (the kernel binds a container to the mm that first used it: EPERM).
import { nativeBinding, type NativeError } from '../../../lib/binding';

const b = nativeBinding();
const page = b.pageSize();
const { buffer, address } = b.allocBuffer(page, 'anonymous');
new Uint8Array(buffer).fill(1);
try {
  b.registerMemory(3, address, BigInt(page));
  console.log('OK');
} catch (error) {
  console.log((error as NativeError).code);
}
