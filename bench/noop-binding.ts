// A binding whose VFIO calls return at once (no ioctl, no bookkeeping) over this host's real
// addon for memory and process queries: the library over it costs what the library itself
// costs, the part of every operation that does not depend on the kernel or on emulation.
import { nativeBinding, type NativeBinding, type SpaprTceInfo } from '../lib/binding';

/** What a v2 container on IODA2 reports (the emulated PHB3's info). */
const INFO: SpaprTceInfo = {
  flags: 1,
  dma32WindowStart: 0n,
  dma32WindowSize: 0x80000000n,
  ddw: { pgsizes: 0x11011000n, maxDynamicWindows: 2, levels: 5 },
};

/**
 * `memlockChecked`: as a process without CAP_IPC_LOCK under a large finite limit, so the
 * library's memlock check runs on every registration (it reads RLIMIT_MEMLOCK and VmLck
 * through the real addon: those reads are part of its cost). Otherwise as root.
 */
export function noopBinding(memlockChecked: boolean): NativeBinding {
  const real = nativeBinding();
  let fd = 1000;
  const none = () => undefined;
  return {
    ...real,
    openContainer: () => (fd += 1),
    closeFd: none,
    getApiVersion: () => 0,
    checkExtension: () => 1,
    setIommu: none,
    spaprTceGetInfo: () => INFO,
    iommuEnable: none,
    iommuDisable: none,
    registerMemory: none,
    registerMemoryAsync: async () => undefined,
    unregisterMemory: none,
    mapDma: none,
    mapDmaBatch: (_fd, ranges) => ranges.length / 4,
    unmapDma: none,
    spaprTceCreate: () => 0x0800000000000000n,
    spaprTceRemove: none,
    openGroup: () => (fd += 1),
    groupGetStatus: () => real.constants.VFIO_GROUP_FLAGS_VIABLE,
    groupSetContainer: none,
    groupUnsetContainer: none,
    hasCapIpcLock: () => !memlockChecked,
    getMemlockLimit: memlockChecked
      ? () => ({ soft: 1n << 40n, hard: 1n << 40n })
      : real.getMemlockLimit,
    // maxPageOrder, vmLockedBytes, pageSize, allocBuffer, ...: the real ones.
  };
}
