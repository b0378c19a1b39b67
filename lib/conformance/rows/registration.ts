// v2 memory registration (VFIO_IOMMU_SPAPR_REGISTER_MEMORY): alignment, repeats and
// overlaps, locked-memory charges and limits, and what a map of unregistered memory gets.
import { MiB, lockedChange, outcome, type Probe } from '../probe';
import type { Row } from '../row';

const RW = 3;

/** REGISTER_MEMORY of 2 MiB, with RLIMIT_MEMLOCK 1 MiB above what is locked or not: the result and VmLck's change. */
function register2MiB(p: Probe, { overLimit }: { overLimit: boolean }): string {
  const fd = p.v2();
  const address = p.buffer(2n * MiB);
  if (overLimit) p.limitLockedTo(MiB);
  const before = p.locked();
  const result = outcome(() => p.b.registerMemory(fd, address, 2n * MiB));
  return `${result}; VmLck ${lockedChange(p.locked() - before)}`;
}

export const REGISTRATION_ROWS: Row[] = [
  {
    id: 'reg.map-unregistered-first',
    section: 'registration',
    title: 'MAP_DMA of memory never registered, on a container that has no registration yet',
    expected: 'EPERM',
    library: { protects: '`NotRegisteredError`' },
    measure(p) {
      const fd = p.v2();
      const address = p.buffer(65536);
      return outcome(() => p.b.mapDma(fd, address, 0x100000n, 65536n, RW));
    },
  },
  {
    id: 'reg.map-unregistered-later',
    section: 'registration',
    title: 'MAP_DMA of memory never registered, once the container has (had) a registration',
    expected: 'EINVAL',
    library: { protects: '`NotRegisteredError`' },
    measure(p) {
      const fd = p.v2();
      const registered = p.buffer(65536);
      const other = p.buffer(65536);
      p.b.registerMemory(fd, registered, 65536n);
      p.b.unregisterMemory(fd, registered, 65536n);
      return outcome(() => p.b.mapDma(fd, other, 0x100000n, 65536n, RW));
    },
  },
  {
    id: 'reg.unmap-before-registration',
    section: 'registration',
    title: 'UNMAP_DMA on a v2 container that has no registration yet',
    expected: 'EPERM',
    library: { protects: '`MappingNotFoundError`: only live mappings are unmapped' },
    measure(p) {
      const fd = p.v2();
      return outcome(() => p.b.unmapDma(fd, 0n, 4096n));
    },
  },
  {
    id: 'reg.misaligned',
    section: 'registration',
    title: 'REGISTER_MEMORY with the address, then the size, not system-page aligned',
    expected: 'EINVAL, EINVAL',
    library: { protects: '`AlignmentError`' },
    measure(p) {
      const fd = p.v2();
      const address = p.buffer(p.page * 2n);
      return [
        outcome(() => p.b.registerMemory(fd, address + 8n, p.page)),
        outcome(() => p.b.registerMemory(fd, address, p.page - 8n)),
      ].join(', ');
    },
  },
  {
    id: 'reg.size-zero',
    section: 'registration',
    title: 'REGISTER_MEMORY of size 0',
    expected: 'ENOMEM',
    library: { protects: '`ArgumentRangeError`' },
    measure(p) {
      const fd = p.v2();
      return outcome(() => p.b.registerMemory(fd, p.buffer(p.page), 0n));
    },
  },
  {
    id: 'reg.flags-argsz',
    section: 'registration',
    title: 'REGISTER_MEMORY with flags 1, then with argsz 8',
    expected: 'EINVAL, EINVAL',
    library: { protects: 'the binding always sends flags 0 and the whole struct' },
    measure(p) {
      const fd = p.v2();
      const address = p.buffer(p.page);
      return [
        outcome(() => p.b.registerMemory(fd, address, p.page, 1)),
        outcome(() => p.b.registerMemory(fd, address, p.page, 0, 8)),
      ].join(', ');
    },
  },
  {
    id: 'reg.unmapped-address',
    section: 'registration',
    title: 'REGISTER_MEMORY of an address the process does not map',
    expected: 'EFAULT',
    library: {
      protects:
        'DmaBuffer memory is mapped while registered; caller-owned memory: `VfioSystemError` EFAULT',
    },
    measure(p) {
      const fd = p.v2();
      return outcome(() => p.b.registerMemory(fd, p.unmappedAddress(), p.page));
    },
  },
  {
    id: 'reg.charge',
    section: 'registration',
    title: 'REGISTER_MEMORY of 2 MiB',
    expected: '0; VmLck +2 MiB',
    library: { relies: 'register() predicts its cost as its size (`MemlockLimitError`)' },
    needs: { lockedBytes: () => 2n * MiB },
    measure: (p) => register2MiB(p, { overLimit: false }),
  },
  {
    id: 'reg.same-range',
    section: 'registration',
    title: 'REGISTER_MEMORY of a registered range again',
    expected: 'EBUSY',
    library: { protects: '`RegionOverlapError`' },
    needs: { lockedBytes: () => 2n * MiB },
    measure(p) {
      const fd = p.v2();
      const address = p.buffer(2n * MiB);
      p.b.registerMemory(fd, address, 2n * MiB);
      return outcome(() => p.b.registerMemory(fd, address, 2n * MiB));
    },
  },
  {
    id: 'reg.overlap',
    section: 'registration',
    title: 'REGISTER_MEMORY of a range overlapping a registered one',
    expected: 'EINVAL',
    library: { protects: '`RegionOverlapError`' },
    needs: { lockedBytes: () => 2n * MiB },
    measure(p) {
      const fd = p.v2();
      const address = p.buffer(4n * MiB);
      p.b.registerMemory(fd, address, 2n * MiB);
      return outcome(() => p.b.registerMemory(fd, address + MiB, 2n * MiB));
    },
  },
  {
    id: 'reg.adjacent',
    section: 'registration',
    title: 'REGISTER_MEMORY of a range adjacent to a registered one',
    expected: '0',
    library: { relies: 'adjacent regions, and mappings across them' },
    needs: { lockedBytes: () => 3n * MiB },
    measure(p) {
      const fd = p.v2();
      const address = p.buffer(3n * MiB);
      p.b.registerMemory(fd, address, 2n * MiB);
      return outcome(() => p.b.registerMemory(fd, address + 2n * MiB, MiB));
    },
  },
  {
    id: 'reg.beyond-limit-root',
    section: 'registration',
    title: 'REGISTER_MEMORY of 2 MiB beyond RLIMIT_MEMLOCK, with CAP_IPC_LOCK (root)',
    expected: '0; VmLck +2 MiB',
    library: { relies: 'no memlock check where CAP_IPC_LOCK lifts the limit' },
    needs: { capIpcLock: true },
    measure: (p) => register2MiB(p, { overLimit: true }),
  },
  {
    id: 'reg.beyond-limit-nonroot',
    section: 'registration',
    title: 'REGISTER_MEMORY of 2 MiB beyond RLIMIT_MEMLOCK, without CAP_IPC_LOCK',
    expected: 'ENOMEM; VmLck +0 B',
    library: { protects: '`MemlockLimitError` before the ioctl, with the `ulimit -l` that fits' },
    needs: { capIpcLock: false },
    measure: (p) => register2MiB(p, { overLimit: true }),
  },
  {
    id: 'reg.unregister-other-size',
    section: 'registration',
    title: 'UNREGISTER_MEMORY with a size other than the registered one: page aligned, then not',
    expected: 'ENOENT, EINVAL',
    library: { protects: '`RegionNotFoundError`' },
    measure(p) {
      const fd = p.v2();
      const address = p.buffer(p.page * 4n);
      p.b.registerMemory(fd, address, p.page * 4n);
      return [
        outcome(() => p.b.unregisterMemory(fd, address, p.page * 2n)),
        outcome(() => p.b.unregisterMemory(fd, address, p.page * 2n + 8n)),
      ].join(', ');
    },
  },
  {
    id: 'reg.unregister-twice',
    section: 'registration',
    title: 'UNREGISTER_MEMORY twice',
    expected: '0, ENOENT',
    library: { protects: '`NotRegisteredError` for a region unregistered already' },
    measure(p) {
      const fd = p.v2();
      const address = p.buffer(p.page);
      p.b.registerMemory(fd, address, p.page);
      const unregister = () => outcome(() => p.b.unregisterMemory(fd, address, p.page));
      return [unregister(), unregister()].join(', ');
    },
  },
  {
    id: 'reg.cross-container-identical',
    section: 'registration',
    title: 'the same range registered from a second container of the same process',
    expected: '0; VmLck +0 B (one pin, shared)',
    library: { relies: 'registrations belong to the process: one range, registered once' },
    needs: { twoGroups: true, lockedBytes: () => 2n * MiB },
    measure(p) {
      const first = p.v2([p.groups[0]]);
      const second = p.v2([p.groups[1]]);
      const address = p.buffer(2n * MiB);
      p.b.registerMemory(first, address, 2n * MiB);
      const before = p.locked();
      const result = outcome(() => p.b.registerMemory(second, address, 2n * MiB));
      return `${result}; VmLck ${lockedChange(p.locked() - before)} (one pin, shared)`;
    },
  },
  {
    id: 'reg.cross-container-overlap',
    section: 'registration',
    title: "a range overlapping another container's registration in any other way",
    expected: 'EINVAL; VmLck +0 B',
    library: { protects: '`RegionOverlapError`' },
    needs: { twoGroups: true, lockedBytes: () => 2n * MiB },
    measure(p) {
      const first = p.v2([p.groups[0]]);
      const second = p.v2([p.groups[1]]);
      const address = p.buffer(4n * MiB);
      p.b.registerMemory(first, address, 2n * MiB);
      const before = p.locked();
      const result = outcome(() => p.b.registerMemory(second, address + MiB, 2n * MiB));
      return `${result}; VmLck ${lockedChange(p.locked() - before)}`;
    },
  },
];
