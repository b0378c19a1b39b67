// Child process: registers one huge page with the raw binding (no library policy) and says
// how it ended. On the 4K-page kernel the ioctl never returns; the parent kills us.
import { nativeBinding, type NativeError } from '../../../lib/binding';

const b = nativeBinding();
const c = b.constants;
const group = Number(process.argv[2]);
const size = b.hugePageSize();
const container = b.openContainer();
const g = b.openGroup(group);
b.groupSetContainer(g, container);
b.setIommu(container, c.VFIO_SPAPR_TCE_v2_IOMMU);
const { buffer, address } = b.allocBuffer(size, 'hugetlb', size);
new Uint8Array(buffer).fill(1);
console.log('REGISTERING');
try {
  b.registerMemory(container, address, BigInt(size));
  console.log('OK');
} catch (error) {
  console.log((error as NativeError).code);
}
