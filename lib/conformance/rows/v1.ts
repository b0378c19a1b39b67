// The legacy v1 IOMMU (VFIO_SPAPR_TCE_IOMMU): ENABLE locks the whole default window and maps
// need no registration; and the calls of one type that the other type does not know.
import { defaultWindowTableBytes, v1DefaultEnableBytes } from '../../memlock';
import { MiB, lockedChange, outcome } from '../probe';
import type { Row } from '../row';

const RW = 3;
/** ENABLE's whole-window charge plus the default window's table at the first map. */
const enableAndMapBytes = (host: { pageSize: bigint }) =>
  v1DefaultEnableBytes(host.pageSize) + defaultWindowTableBytes(host.pageSize);

export const V1_ROWS: Row[] = [
  {
    id: 'v1.enable-on-v2',
    section: 'v1',
    title: 'VFIO_IOMMU_ENABLE and DISABLE on a v2 container',
    expected: 'ENOTTY, ENOTTY',
    library: { protects: '`IommuTypeError`: enable() and disable() are v1 calls' },
    measure(p) {
      const fd = p.v2();
      return [outcome(() => p.b.iommuEnable(fd)), outcome(() => p.b.iommuDisable(fd))].join(', ');
    },
  },
  {
    id: 'v1.register-enotty',
    section: 'v1',
    title: 'REGISTER_MEMORY and TCE_CREATE on a v1 container',
    expected: 'ENOTTY, ENOTTY',
    library: { protects: '`IommuTypeError`: registration and windows are v2 calls' },
    measure(p) {
      const fd = p.v1();
      const address = p.buffer(p.page);
      return [
        outcome(() => p.b.registerMemory(fd, address, p.page)),
        outcome(() => p.b.spaprTceCreate(fd, 16, 1n << 32n, 1)),
      ].join(', ');
    },
  },
  {
    id: 'v1.map-before-enable',
    section: 'v1',
    title: 'MAP_DMA on v1 before VFIO_IOMMU_ENABLE',
    expected: 'EPERM',
    library: { protects: '`NotEnabledError`' },
    measure(p) {
      const fd = p.v1();
      const address = p.buffer(65536);
      return outcome(() => p.b.mapDma(fd, address, 0n, 65536n, RW));
    },
  },
  {
    id: 'v1.enable-charge',
    section: 'v1',
    title: 'VFIO_IOMMU_ENABLE on v1, then MAP_DMA of memory never registered, then DISABLE',
    expected:
      'ENABLE 0, VmLck +2 GiB (the whole default window); MAP 0, VmLck +8 MiB (the default ' +
      "window's table, created at the first map); DISABLE returns the 2 GiB only",
    library: {
      relies: "enable()'s and the first v1 map's locked-memory predictions (`MemlockLimitError`)",
    },
    needs: { lockedBytes: enableAndMapBytes },
    measure(p) {
      const fd = p.v1();
      const address = p.buffer(65536);
      const start = p.locked();
      const enable = outcome(() => p.b.iommuEnable(fd));
      const enabled = p.locked();
      const map = outcome(() => p.b.mapDma(fd, address, 0n, 65536n, RW));
      const mapped = p.locked();
      p.b.unmapDma(fd, 0n, 65536n);
      p.b.iommuDisable(fd);
      const returned = mapped - p.locked();
      return (
        `ENABLE ${enable}, VmLck ${lockedChange(enabled - start)} (the whole default window); ` +
        `MAP ${map}, VmLck ${lockedChange(mapped - enabled)} (the default window's table, ` +
        `created at the first map); DISABLE returns the ${lockedChange(returned).slice(1)} only`
      );
    },
  },
  {
    id: 'v1.enable-twice',
    section: 'v1',
    title: 'VFIO_IOMMU_ENABLE twice',
    expected: 'EBUSY',
    library: { protects: 'Container.enable() does nothing when the container is enabled' },
    needs: { lockedBytes: (host) => v1DefaultEnableBytes(host.pageSize) },
    measure(p) {
      const fd = p.v1();
      p.b.iommuEnable(fd);
      return outcome(() => p.b.iommuEnable(fd));
    },
  },
  {
    id: 'v1.enable-nonroot',
    section: 'v1',
    title: 'VFIO_IOMMU_ENABLE without CAP_IPC_LOCK, RLIMIT_MEMLOCK 8 MiB above what is locked',
    expected: 'ENOMEM; VmLck unchanged',
    library: { protects: '`MemlockLimitError` before the ioctl, with the `ulimit -l` that fits' },
    needs: { capIpcLock: false },
    measure(p) {
      const fd = p.v1();
      p.limitLockedTo(8n * MiB);
      const before = p.locked();
      const enable = outcome(() => p.b.iommuEnable(fd));
      return `${enable}; VmLck ${p.locked() === before ? 'unchanged' : lockedChange(p.locked() - before)}`;
    },
  },
];
