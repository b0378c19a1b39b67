// Rows whose kernel effects outlive what the row closes: a pin or a locked-memory charge that
// stays with the process until it exits. They run in a child process (child.ts), so the
// effect ends with the child; and the row about another process spawns one of its own.
import { DEFAULT_WINDOW } from '../../kernel-constants';
import { defaultWindowTableBytes, tceLevelBytes, tceTableBytes } from '../../memlock';
import { MiB, lockedChange, outcome } from '../probe';
import { SkipRow, type HostFacts, type Row } from '../row';

const RW = 3;

/**
 * A window of 4K pages in one level whose level is twice the largest block the page
 * allocator gives (16 GiB where MAX_PAGE_ORDER allows 16 MiB blocks); null when unknown.
 */
function oversizedWindow(host: HostFacts): bigint | null {
  if (host.maxPageOrder < 0) return null;
  const largest = host.pageSize << BigInt(host.maxPageOrder);
  return ((largest * 2n) / 8n) * 4096n;
}

export const ISOLATED_ROWS: Row[] = [
  {
    id: 'map.past-window-end',
    section: 'mapping',
    title:
      "MAP_DMA, then UNMAP_DMA, of two pages from a window's last page (a two-level window of 4K pages with room in its top level)",
    expected: '0, 0 (only the first page is checked against the window end)',
    library: { protects: '`OutsideWindowError`: ranges are checked against the window end' },
    needs: {
      ddw: true,
      isolated: true,
      lockedBytes: (host) => defaultWindowTableBytes(host.pageSize) + 4n * MiB,
    },
    measure(p) {
      // In a one-level table (the default window) the page past the end is written past the
      // table's allocation: it corrupted a guest kernel once, so it is never run. With two
      // levels the entry lands in the unused part of the top level: memory the table owns.
      const size = 32n * MiB;
      const entriesShift = 13; // 32 MiB of 4 KiB pages
      const levelEntriesShift = Number(tceLevelBytes(12, size, 2, p.page)).toString(2).length - 4;
      if (2 * levelEntriesShift <= entriesShift) {
        throw new SkipRow('the two-level table would have no room past the window');
      }
      const fd = p.v2();
      const bytes = p.page > 8192n ? p.page : 8192n;
      const address = p.buffer(bytes);
      p.b.registerMemory(fd, address, bytes);
      const start = p.b.spaprTceCreate(fd, 12, size, 2);
      const last = start + size - 4096n;
      const map = outcome(() => p.b.mapDma(fd, address, last, 8192n, RW));
      const unmap = outcome(() => p.b.unmapDma(fd, last, 8192n));
      return `${map}, ${unmap} (only the first page is checked against the window end)`;
    },
  },
  {
    id: 'window.level-too-large',
    section: 'windows',
    title:
      "SPAPR_TCE_CREATE whose table level is larger than the page allocator's largest block; then close",
    expected:
      "ENOMEM; the whole table's charge stays in VmLck after close, until the process exits",
    library: { protects: '`TceTableAllocationError` before the ioctl, naming the levels that fit' },
    needs: {
      ddw: true,
      isolated: true,
      lockedBytes: (host) =>
        defaultWindowTableBytes(host.pageSize) +
        tceTableBytes(12, oversizedWindow(host) ?? DEFAULT_WINDOW.size, 1, host.pageSize),
    },
    measure(p) {
      const size = oversizedWindow(p.host);
      if (size === null)
        throw new SkipRow('/proc/buddyinfo cannot be read: the largest block is unknown');
      const atStart = p.locked();
      const fd = p.v2();
      // The lazy default window first, so that its charge is not in the step measured.
      p.b.spaprTceRemove(fd, p.b.spaprTceCreate(fd, 12, 1n << 32n, 1));
      const create = outcome(() => p.b.spaprTceCreate(fd, 12, size, 1));
      p.close(fd);
      const stranded = p.locked() - atStart;
      const table = tceTableBytes(12, size, 1, p.page);
      return stranded === table
        ? `${create}; the whole table's charge stays in VmLck after close, until the process exits`
        : `${create}; VmLck ${lockedChange(stranded)} after close (the table is ${lockedChange(table)})`;
    },
  },
  {
    id: 'reg.unregister-while-mapped',
    section: 'registration',
    title:
      'UNREGISTER_MEMORY while pages of the range are mapped; REGISTER it again; then UNMAP, UNREGISTER, close',
    expected:
      '0, VmLck unchanged; REGISTER again 0; the pin stays in VmLck after UNMAP, UNREGISTER and close, until the process exits',
    library: { protects: '`RegionInUseError`' },
    needs: { isolated: true, lockedBytes: (host) => defaultWindowTableBytes(host.pageSize) + MiB },
    measure(p) {
      const atStart = p.locked();
      const fd = p.v2();
      const address = p.bufferUntilExit(65536);
      p.b.registerMemory(fd, address, 65536n);
      p.b.mapDma(fd, address, 0x100000n, 65536n, RW);
      const mapped = p.locked();
      const result = outcome(() => p.b.unregisterMemory(fd, address, 65536n));
      const change = p.locked() - mapped;
      const unregister = `${result}, VmLck ${change === 0n ? 'unchanged' : lockedChange(change)}`;
      const again = outcome(() => p.b.registerMemory(fd, address, 65536n));
      p.b.unmapDma(fd, 0x100000n, 65536n);
      p.b.unregisterMemory(fd, address, 65536n);
      p.close(fd);
      const left = p.locked() - atStart;
      return left === 65536n
        ? `${unregister}; REGISTER again ${again}; the pin stays in VmLck after UNMAP, UNREGISTER and close, until the process exits`
        : `${unregister}; REGISTER again ${again}; VmLck ${lockedChange(left)} after close`;
    },
  },
  {
    id: 'reg.other-process',
    section: 'registration',
    title: "REGISTER_MEMORY by a child process on its parent's container fd",
    expected: 'EPERM (the container belongs to the mm that first used it)',
    library: { protects: '`ForkedProcessError`, before any ioctl' },
    needs: { spawns: true, lockedBytes: (host) => host.pageSize },
    measure(p) {
      if (!p.spawnChild) throw new SkipRow('needs child processes');
      const fd = p.v2();
      const address = p.buffer(p.page);
      p.b.registerMemory(fd, address, p.page);
      const seen = p.spawnChild(['--register-on-fd3'], [fd]).trim();
      return `${seen} (the container belongs to the mm that first used it)`;
    },
  },
];
