// Child process run as a non-root uid (no CAP_IPC_LOCK) under the RLIMIT_MEMLOCK its parent
// set: registers 3 MiB and maps a page through the library, reporting each step as JSON with
// VmLck readings, and what the kernel itself says when asked anyway.
import { Container, DmaBuffer, MemlockLimitError } from '../../../lib';
import { nativeBinding, type NativeError } from '../../../lib/binding';

const b = nativeBinding();
const group = Number(process.argv[2]);
const MiB = 1n << 20n;
const report: Record<string, unknown> = {
  uid: process.getuid?.(),
  capIpcLock: b.hasCapIpcLock(),
  limit: b.getMemlockLimit().soft.toString(),
  lockedAtStart: b.vmLockedBytes().toString(),
};

const container = Container.open();
container.addGroup(group);
container.setIommu('v2');
const buffer = DmaBuffer.allocate(3n * MiB);
buffer.bytes().fill(1);
const region = container.register(buffer);
report.lockedAfterRegister = b.vmLockedBytes().toString();
try {
  const mapping = container.map(region, 0x100000n, { size: 65536 });
  report.map = 'OK';
  report.lockedAfterMap = b.vmLockedBytes().toString();
  mapping.unmap();
} catch (error) {
  if (!(error instanceof MemlockLimitError)) throw error;
  report.map = error.code;
  report.predicted = {
    needed: error.needed.toString(),
    locked: error.locked.toString(),
    limit: error.limit.toString(),
    ulimitKiB: error.ulimitKiB.toString(),
  };
  // What the kernel says when asked anyway, through the raw binding.
  try {
    b.mapDma(container.fd, buffer.address, 0x100000n, 65536n, 3);
    report.kernelMap = 'OK';
  } catch (raw) {
    report.kernelMap = (raw as NativeError).code;
  }
}
region.unregister();
container.close();
buffer.free();
report.lockedAtEnd = b.vmLockedBytes().toString();
console.log(JSON.stringify(report));
