// v2 DMA map and unmap in the default 32-bit window (4 KiB IOMMU pages): the lazily created
// window and its charge, and the traps: a replaced translation, the +1 return, ranges the
// kernel checks by their first page only.
import { DEFAULT_WINDOW } from '../../kernel-constants';
import { defaultWindowTableBytes } from '../../memlock';
import { MiB, lockedChange, outcome, type Probe } from '../probe';
import type { Row } from '../row';

const RW = 3;
const REGION = 4n * 65536n;

/** A v2 container with two adjacent registered regions of 256 KiB; the first one's address. */
function registeredPair(p: Probe): { fd: number; address: bigint } {
  const fd = p.v2();
  const address = p.buffer(REGION * 2n);
  p.b.registerMemory(fd, address, REGION);
  p.b.registerMemory(fd, address + REGION, REGION);
  return { fd, address };
}

const withDefaultWindow = (host: { pageSize: bigint }) =>
  REGION * 2n + defaultWindowTableBytes(host.pageSize);

export const MAPPING_ROWS: Row[] = [
  {
    id: 'map.lazy-default-window',
    section: 'mapping',
    title: 'the first MAP_DMA of a v2 container',
    expected: "0; VmLck +8 MiB (the default window's TCE table and its userspace view)",
    library: { relies: "the first map's locked-memory prediction (`MemlockLimitError`)" },
    needs: { lockedBytes: withDefaultWindow },
    measure(p) {
      const { fd, address } = registeredPair(p);
      const before = p.locked();
      const result = outcome(() => p.b.mapDma(fd, address, 0x100000n, 65536n, RW));
      return `${result}; VmLck ${lockedChange(p.locked() - before)} (the default window's TCE table and its userspace view)`;
    },
  },
  {
    id: 'map.lazy-default-window-nonroot',
    section: 'mapping',
    title:
      'without CAP_IPC_LOCK, RLIMIT_MEMLOCK 8 MiB above what was locked, 3 MiB registered, then MAP_DMA',
    expected: 'ENOMEM (the 8 MiB table does not fit)',
    library: { protects: "`MemlockLimitError` naming the default window's table" },
    needs: { capIpcLock: false },
    measure(p) {
      const fd = p.v2();
      const address = p.buffer(3n * MiB);
      p.limitLockedTo(8n * MiB);
      p.b.registerMemory(fd, address, 3n * MiB);
      const result = outcome(() => p.b.mapDma(fd, address, 0x100000n, 65536n, RW));
      return `${result} (the 8 MiB table does not fit)`;
    },
  },
  {
    id: 'map.64k',
    section: 'mapping',
    title: 'MAP_DMA of 64 KiB of registered memory',
    expected: '0',
    library: { relies: 'map()' },
    needs: { lockedBytes: withDefaultWindow },
    measure(p) {
      const { fd, address } = registeredPair(p);
      return outcome(() => p.b.mapDma(fd, address, 0x100000n, 65536n, RW));
    },
  },
  {
    id: 'map.same-iova',
    section: 'mapping',
    title: 'MAP_DMA at an IOVA that is mapped already',
    expected: '0 (the old translation is silently replaced)',
    library: { protects: '`MappingOverlapError`' },
    needs: { lockedBytes: withDefaultWindow },
    measure(p) {
      const { fd, address } = registeredPair(p);
      p.b.mapDma(fd, address, 0x100000n, 65536n, RW);
      const again = outcome(() => p.b.mapDma(fd, address + 65536n, 0x100000n, 65536n, RW));
      return `${again} (the old translation is silently replaced)`;
    },
  },
  {
    id: 'map.across-regions',
    section: 'mapping',
    title: 'MAP_DMA of a range crossing from one registered region into an adjacent one',
    expected: '0',
    library: { relies: 'mappings that span adjacent regions' },
    needs: { lockedBytes: withDefaultWindow },
    measure(p) {
      const { fd, address } = registeredPair(p);
      return outcome(() => p.b.mapDma(fd, address + REGION - 65536n, 0x200000n, 131072n, RW));
    },
  },
  {
    id: 'map.misaligned-iova',
    section: 'mapping',
    title: 'MAP_DMA, then UNMAP_DMA, at an IOVA not aligned to the IOMMU page',
    expected: '+1, +1 (not -1: nothing done, errno untouched)',
    library: { protects: '`AlignmentError`; the binding treats any non-zero return as failure' },
    needs: { lockedBytes: withDefaultWindow },
    measure(p) {
      const { fd, address } = registeredPair(p);
      const map = outcome(() => p.b.mapDma(fd, address, 0x100800n, 4096n, RW));
      const unmap = outcome(() => p.b.unmapDma(fd, 0x100800n, 4096n));
      return `${map}, ${unmap} (not -1: nothing done, errno untouched)`;
    },
  },
  {
    id: 'map.size-unaligned',
    section: 'mapping',
    title: 'MAP_DMA of a size that is not a whole IOMMU page',
    expected: 'EINVAL',
    library: { protects: '`AlignmentError`' },
    needs: { lockedBytes: withDefaultWindow },
    measure(p) {
      const { fd, address } = registeredPair(p);
      return outcome(() => p.b.mapDma(fd, address, 0x100000n, 100n, RW));
    },
  },
  {
    id: 'map.flags-zero',
    section: 'mapping',
    title: 'MAP_DMA with neither READ nor WRITE',
    expected: 'EINVAL',
    library: { protects: '`ArgumentRangeError`' },
    needs: { lockedBytes: withDefaultWindow },
    measure(p) {
      const { fd, address } = registeredPair(p);
      return outcome(() => p.b.mapDma(fd, address, 0x100000n, 4096n, 0));
    },
  },
  {
    id: 'map.read-only',
    section: 'mapping',
    title: 'MAP_DMA with READ only',
    expected: '0',
    library: { relies: 'map(..., { write: false })' },
    needs: { lockedBytes: withDefaultWindow },
    measure(p) {
      const { fd, address } = registeredPair(p);
      return outcome(() => p.b.mapDma(fd, address, 0x100000n, 4096n, p.c.VFIO_DMA_MAP_FLAG_READ));
    },
  },
  {
    id: 'map.beyond-window',
    section: 'mapping',
    title: 'MAP_DMA at an IOVA in no window',
    expected: 'ENXIO',
    library: { protects: '`OutsideWindowError`' },
    needs: { lockedBytes: withDefaultWindow },
    measure(p) {
      const { fd, address } = registeredPair(p);
      const end = DEFAULT_WINDOW.start + DEFAULT_WINDOW.size;
      return outcome(() => p.b.mapDma(fd, address, end, 4096n, RW));
    },
  },
  {
    id: 'map.unmap-unmapped',
    section: 'mapping',
    title: 'UNMAP_DMA of a range never mapped; then of a mapped range, twice',
    expected: '0; 0, 0',
    library: { protects: '`MappingNotFoundError`' },
    needs: { lockedBytes: withDefaultWindow },
    measure(p) {
      const { fd, address } = registeredPair(p);
      const never = outcome(() => p.b.unmapDma(fd, 0x300000n, 65536n));
      p.b.mapDma(fd, address, 0x100000n, 65536n, RW);
      const unmap = () => outcome(() => p.b.unmapDma(fd, 0x100000n, 65536n));
      return `${never}; ${unmap()}, ${unmap()}`;
    },
  },
];
