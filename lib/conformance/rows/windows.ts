// v2 dynamic DMA windows (SPAPR_TCE_CREATE / REMOVE): where they land, how many, what their
// tables charge to locked memory, and which IOMMU pages ordinary memory can back.
import { DYNAMIC_WINDOW_START } from '../../kernel-constants';
import { defaultWindowTableBytes, tceTableBytes } from '../../memlock';
import { GiB, MiB, lockedChange, outcome, type Probe } from '../probe';
import type { Row } from '../row';

const RW = 3;
const hex = (n: bigint) => `0x${n.toString(16)}`;

/** A v2 container whose default window exists (its charge is not in what a row measures). */
function withDefaultWindow(p: Probe): number {
  const fd = p.v2();
  p.b.registerMemory(fd, p.buffer(p.page), p.page);
  p.b.unmapDma(fd, 0n, 4096n);
  return fd;
}

/** A window of 64 KiB pages, 4 GiB, beside the default one, and 128 KiB registered. */
function sixtyFourKWindow(p: Probe): { fd: number; start: bigint; address: bigint } {
  const fd = withDefaultWindow(p);
  const start = p.b.spaprTceCreate(fd, 16, 4n * GiB, 1);
  const address = p.buffer(131072);
  p.b.registerMemory(fd, address, 131072n);
  return { fd, start, address };
}

const defaultPlus = (bytes: bigint) => (host: { pageSize: bigint }) =>
  defaultWindowTableBytes(host.pageSize) + bytes + host.pageSize + 2n * MiB;

/** Window geometries whose charge is compared with the formula: [page, size, levels]. */
const CHARGED: [bigint, bigint, number][] = [
  [65536n, 4n * GiB, 1],
  [65536n, 4n * GiB, 2],
  [4096n, GiB, 3],
];

/** The geometries, and the largest page the container offers up to 1 GiB over 64 GiB. */
function chargedGeometries(p: Probe, fd: number): [bigint, bigint, number][] {
  const offered = p.b.spaprTceGetInfo(fd).ddw.pgsizes;
  let largest = 65536n;
  for (let page = 1n << 30n; page > largest; page >>= 1n) {
    if (offered & page) largest = page;
  }
  return [...CHARGED, [largest, 64n * GiB, 1]];
}

/** The most any of the fixed geometries charges (the largest-page one charges less). */
const chargedPeak = (host: { pageSize: bigint }) =>
  CHARGED.map(([page, size, levels]) =>
    tceTableBytes(page.toString(2).length - 1, size, levels, host.pageSize),
  ).reduce((a, b) => (a > b ? a : b));

export const WINDOW_ROWS: Row[] = [
  {
    id: 'window.create',
    section: 'windows',
    title: 'SPAPR_TCE_CREATE of 64 KiB pages, 4 GiB, 1 level (the default window exists)',
    expected: `0; start ${hex(DYNAMIC_WINDOW_START)}; VmLck +1 MiB (table and userspace view)`,
    library: { relies: "the window's start from the kernel; its cost (`Container.windowCost`)" },
    needs: { ddw: true, lockedBytes: defaultPlus(MiB) },
    measure(p) {
      const fd = withDefaultWindow(p);
      const before = p.locked();
      let start = 0n;
      const result = outcome(() => (start = p.b.spaprTceCreate(fd, 16, 4n * GiB, 1)));
      return `${result}; start ${hex(start)}; VmLck ${lockedChange(p.locked() - before)} (table and userspace view)`;
    },
  },
  {
    id: 'window.limit',
    section: 'windows',
    title: 'a second SPAPR_TCE_CREATE while the default and one dynamic window exist',
    expected: 'ENOSPC',
    library: { protects: '`WindowLimitError`' },
    needs: { ddw: true, lockedBytes: defaultPlus(2n * MiB) },
    measure(p) {
      const fd = withDefaultWindow(p);
      p.b.spaprTceCreate(fd, 16, 4n * GiB, 1);
      return outcome(() => p.b.spaprTceCreate(fd, 16, 4n * GiB, 1));
    },
  },
  {
    id: 'window.charge',
    section: 'windows',
    title:
      'SPAPR_TCE_CREATE of 64K x 4G in 1 and in 2 levels, 4K x 1G in 3 levels, the largest page up to 1G x 64G',
    expected: 'VmLck rises by the TCE table size of every level plus the userspace view, each time',
    library: { relies: '`Container.windowCost` and the memlock prediction of createWindow' },
    needs: {
      ddw: true,
      lockedBytes: (host) => defaultPlus(chargedPeak(host))(host),
    },
    measure(p) {
      const fd = withDefaultWindow(p);
      const off: string[] = [];
      for (const [page, size, levels] of chargedGeometries(p, fd)) {
        const shift = page.toString(2).length - 1;
        const before = p.locked();
        const start = p.b.spaprTceCreate(fd, shift, size, levels);
        const charged = p.locked() - before;
        p.b.spaprTceRemove(fd, start);
        const predicted = tceTableBytes(shift, size, levels, p.page);
        if (charged !== predicted) {
          off.push(
            `${page}x${size} in ${levels}: ${lockedChange(charged)}, predicted ${lockedChange(predicted)}`,
          );
        }
      }
      return off.length === 0
        ? 'VmLck rises by the TCE table size of every level plus the userspace view, each time'
        : `differs: ${off.join('; ')}`;
    },
  },
  {
    id: 'window.64k-pages-ordinary-memory',
    section: 'windows',
    title: 'MAP_DMA of 64 KiB IOMMU pages over ordinary (system-page) memory',
    expected:
      'EINVAL on the 4K-page kernel (the backing page is smaller); 0 on the 64K-page kernel',
    expectedOn: (host) => (host.pageSize >= 65536n ? '0' : 'EINVAL'),
    library: { protects: '`PageSizeError`: an IOMMU page larger than the backing page' },
    needs: { ddw: true, lockedBytes: defaultPlus(2n * MiB) },
    measure(p) {
      const { fd, start, address } = sixtyFourKWindow(p);
      return outcome(() => p.b.mapDma(fd, address, start, 65536n, RW));
    },
  },
  {
    id: 'window.4k-in-64k',
    section: 'windows',
    title: 'MAP_DMA of 4 KiB in a window of 64 KiB pages',
    expected: 'EINVAL',
    library: { protects: '`AlignmentError`' },
    needs: { ddw: true, lockedBytes: defaultPlus(2n * MiB) },
    measure(p) {
      const { fd, start, address } = sixtyFourKWindow(p);
      return outcome(() => p.b.mapDma(fd, address, start + 0x100000n, 4096n, RW));
    },
  },
  {
    id: 'window.remove-with-mappings',
    section: 'windows',
    title: 'SPAPR_TCE_REMOVE of a window that still has a mapping; then UNREGISTER of its memory',
    expected: '0; UNREGISTER 0 and VmLck back (the mapping went with the table)',
    library: { protects: '`WindowInUseError`: windows are removed empty' },
    needs: { ddw: true, lockedBytes: defaultPlus(2n * MiB) },
    measure(p) {
      const fd = withDefaultWindow(p);
      const start = p.b.spaprTceCreate(fd, 12, 256n * MiB, 1);
      const before = p.locked();
      const address = p.buffer(p.page);
      p.b.registerMemory(fd, address, p.page);
      p.b.mapDma(fd, address, start, 4096n, RW);
      const remove = outcome(() => p.b.spaprTceRemove(fd, start));
      const unregister = outcome(() => p.b.unregisterMemory(fd, address, p.page));
      const tableBytes = tceTableBytes(12, 256n * MiB, 1, p.page);
      const back = p.locked() === before - tableBytes;
      return `${remove}; UNREGISTER ${unregister} and VmLck ${back ? 'back (the mapping went with the table)' : lockedChange(p.locked() - before + tableBytes)}`;
    },
  },
  {
    id: 'window.remove-twice',
    section: 'windows',
    title: 'SPAPR_TCE_REMOVE of a dynamic window twice',
    expected: '0 (its charge returned), EINVAL',
    library: { protects: 'a removed `Window` is refused (`InvalidArgumentError`)' },
    needs: { ddw: true, lockedBytes: defaultPlus(MiB) },
    measure(p) {
      const fd = withDefaultWindow(p);
      const before = p.locked();
      const start = p.b.spaprTceCreate(fd, 16, 4n * GiB, 1);
      const remove = () => outcome(() => p.b.spaprTceRemove(fd, start));
      const first = remove();
      const change = p.locked() - before;
      const charge = change === 0n ? 'its charge returned' : `VmLck ${lockedChange(change)}`;
      return `${first} (${charge}), ${remove()}`;
    },
  },
  {
    id: 'window.remove-default',
    section: 'windows',
    title:
      'SPAPR_TCE_REMOVE of the default window, MAP_DMA at its old IOVA, SPAPR_TCE_CREATE of 4K x 2G, MAP_DMA again',
    expected: '0; ENXIO; the new window starts at 0x0; 0',
    library: { relies: 'removing the default window and creating one in its place' },
    needs: { ddw: true, lockedBytes: defaultPlus(0n) },
    measure(p) {
      const fd = withDefaultWindow(p);
      const address = p.buffer(65536);
      p.b.registerMemory(fd, address, 65536n);
      const remove = outcome(() => p.b.spaprTceRemove(fd, 0n));
      const gone = outcome(() => p.b.mapDma(fd, address, 0x100000n, 4096n, RW));
      const start = p.b.spaprTceCreate(fd, 12, 2n * GiB, 1);
      const map = outcome(() => p.b.mapDma(fd, address, 0x100000n, 4096n, RW));
      return `${remove}; ${gone}; the new window starts at ${hex(start)}; ${map}`;
    },
  },
];
