// Child process: kernel facts that leak a pin into the process's mm (where it would poison
// later registrations at reused addresses), measured with the raw binding. Prints VmLck at
// each step as JSON; the leak ends with this process.
//   node leaky-kernel-facts.js GROUP unregister-while-mapped
import { nativeBinding, type NativeError } from '../../../lib';

const b = nativeBinding();
const c = b.constants;
const size = 65536n;
const outcome = (call: () => unknown) => {
  try {
    call();
    return 'OK';
  } catch (error) {
    return (error as NativeError).code;
  }
};
const locked = () => b.vmLockedBytes().toString();

const report: Record<string, string> = { size: size.toString(), lockedAtStart: locked() };
const container = b.openContainer();
const group = b.openGroup(Number(process.argv[2]));
b.groupSetContainer(group, container);
b.setIommu(container, c.VFIO_SPAPR_TCE_v2_IOMMU);
const { buffer, address } = b.allocBuffer(Number(size), 'anonymous');
new Uint8Array(buffer).fill(1);
b.registerMemory(container, address, size);

if (process.argv[3] !== 'unregister-while-mapped')
  throw new Error(`unknown scenario ${process.argv[3]}`);
b.mapDma(container, address, 0x100000n, size, 3);
report.lockedMapped = locked();
report.unregister = outcome(() => b.unregisterMemory(container, address, size));
report.lockedAfterUnregister = locked();
report.reregister = outcome(() => b.registerMemory(container, address, size));
b.unmapDma(container, 0x100000n, size);
b.unregisterMemory(container, address, size);
b.closeFd(group);
b.closeFd(container);
report.lockedAfterClose = locked();
console.log(JSON.stringify(report));
