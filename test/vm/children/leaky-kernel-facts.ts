// Child process: kernel facts that leak into the process's mm (a pin that would poison later
// registrations at reused addresses, or a locked_vm charge), measured with the raw binding.
// Prints VmLck at each step as JSON; the leak ends with this process.
//   node leaky-kernel-facts.js GROUP unregister-while-mapped | window-level-too-large
import { nativeBinding, type NativeError } from '../../../lib/binding';

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

function unregisterWhileMapped(): void {
  const { buffer, address } = b.allocBuffer(Number(size), 'anonymous');
  new Uint8Array(buffer).fill(1);
  b.registerMemory(container, address, size);
  b.mapDma(container, address, 0x100000n, size, 3);
  report.lockedMapped = locked();
  report.unregister = outcome(() => b.unregisterMemory(container, address, size));
  report.lockedAfterUnregister = locked();
  report.reregister = outcome(() => b.registerMemory(container, address, size));
  b.unmapDma(container, 0x100000n, size);
  b.unregisterMemory(container, address, size);
}

/**
 * A 4K-page window in one level whose level is twice the largest block the page allocator
 * gives (16 GiB of 4K pages: 32 MiB levels where MAX_PAGE_ORDER allows 16 MiB).
 */
function windowLevelTooLarge(): void {
  const largest = BigInt(b.pageSize()) << BigInt(b.maxPageOrder());
  const windowSize = ((largest * 2n) / 8n) * 4096n;
  report.largestBlock = largest.toString();
  report.windowSize = windowSize.toString();
  // The lazy default window first, so its own charge is not in the step measured.
  b.spaprTceRemove(container, b.spaprTceCreate(container, 12, 1n << 32n, 1));
  report.lockedBefore = locked();
  report.create = outcome(() => b.spaprTceCreate(container, 12, windowSize, 1));
  report.lockedAfterCreate = locked();
}

if (process.argv[3] === 'unregister-while-mapped') unregisterWhileMapped();
else if (process.argv[3] === 'window-level-too-large') windowLevelTooLarge();
else throw new Error(`unknown scenario ${process.argv[3]}`);
b.closeFd(group);
b.closeFd(container);
report.lockedAfterClose = locked();
console.log(JSON.stringify(report));
