// The only file that sees native/: loads the addon and declares its whole surface.
// The native layer is thin and policy-free: one function per syscall or ioctl, no
// bookkeeping. Every native failure throws a NativeError (see below); the mapping to
// the library's typed errors lives in errors.ts.
import * as path from 'node:path';

/** What every native call throws: shaped like Node's own SystemError. */
export interface NativeError extends Error {
  /** Negative errno, as Node's SystemError (-1 for EPERM); absent when no errno applies. */
  errno?: number;
  /** 'EBUSY', 'ENOENT', ... or ERR_VFIO_NATIVE_* for failures with no errno. */
  code: string;
  /** 'ioctl', 'open', 'mmap', 'pread', ... */
  syscall?: string;
  /** The ioctl's name from <linux/vfio.h>, e.g. 'VFIO_IOMMU_MAP_DMA'. */
  ioctl?: string;
  /** A non-zero, non-negative return where the kernel means success by 0 (MAP/UNMAP give +1). */
  returnValue?: number;
  /** Batch calls (mapDmaBatch): the entry that failed; the entries before it were done. */
  index?: number;
}

export interface SpaprTceInfo {
  flags: number;
  dma32WindowStart: bigint;
  dma32WindowSize: bigint;
  /** Valid only when flags has VFIO_IOMMU_SPAPR_INFO_DDW; zero otherwise. */
  ddw: { pgsizes: bigint; maxDynamicWindows: number; levels: number };
}

export interface DeviceInfo {
  flags: number;
  numRegions: number;
  numIrqs: number;
}

export type RegionCapability =
  | { id: 1; version: number; kind: 'sparse-mmap'; areas: { offset: bigint; size: bigint }[] }
  | { id: 2; version: number; kind: 'type'; type: number; subtype: number }
  | { id: 3; version: number; kind: 'msix-mappable' }
  | { id: number; version: number; kind: 'unknown'; data: Uint8Array };

export interface RegionInfo {
  index: number;
  flags: number;
  size: bigint;
  offset: bigint;
  capabilities: RegionCapability[];
}

export interface IrqInfo {
  index: number;
  flags: number;
  count: number;
}

/** A device that a slot or bus reset of the device also resets (VFIO_DEVICE_GET_PCI_HOT_RESET_INFO). */
export interface HotResetDevice {
  groupId: number;
  segment: number;
  bus: number;
  devfn: number;
}

export interface HotResetInfo {
  flags: number;
  /** The devices the reset touches (also when they did not fit: then `devices` is null). */
  count: number;
  /** null: the kernel said ENOSPC, ask again with room for `count`. */
  devices: HotResetDevice[] | null;
}

export type BufferBacking = 'anonymous' | 'shared' | 'hugetlb' | 'memfd';

export interface NativeBuffer {
  /** External ArrayBuffer over the mmap'd block; detached by freeBuffer. */
  buffer: ArrayBuffer;
  address: bigint;
  /** The memfd for 'memfd' backing, -1 otherwise (closed by freeBuffer). */
  fd: number;
}

export interface MemlockLimit {
  /** RLIM_INFINITY is reported as 2^64-1. */
  soft: bigint;
  hard: bigint;
}

export type MmioWidth = 8 | 16 | 32 | 64;

export interface EventfdWatcher {
  /** Stops watching (no event is delivered after it returns); idempotent. */
  stop(): void;
}

/** Numbers taken from the build target's <linux/vfio.h> and <sys/...> headers. */
export interface NativeConstants {
  VFIO_API_VERSION: number;
  VFIO_TYPE1_IOMMU: number;
  VFIO_SPAPR_TCE_IOMMU: number;
  VFIO_SPAPR_TCE_v2_IOMMU: number;
  VFIO_EEH: number;
  VFIO_GROUP_FLAGS_VIABLE: number;
  VFIO_GROUP_FLAGS_CONTAINER_SET: number;
  VFIO_IOMMU_SPAPR_INFO_DDW: number;
  VFIO_DMA_MAP_FLAG_READ: number;
  VFIO_DMA_MAP_FLAG_WRITE: number;
  VFIO_DEVICE_FLAGS_RESET: number;
  VFIO_DEVICE_FLAGS_PCI: number;
  VFIO_REGION_INFO_FLAG_READ: number;
  VFIO_REGION_INFO_FLAG_WRITE: number;
  VFIO_REGION_INFO_FLAG_MMAP: number;
  VFIO_REGION_INFO_FLAG_CAPS: number;
  VFIO_PCI_BAR0_REGION_INDEX: number;
  VFIO_PCI_CONFIG_REGION_INDEX: number;
  VFIO_PCI_NUM_REGIONS: number;
  VFIO_PCI_INTX_IRQ_INDEX: number;
  VFIO_PCI_MSI_IRQ_INDEX: number;
  VFIO_PCI_MSIX_IRQ_INDEX: number;
  VFIO_IRQ_INFO_EVENTFD: number;
  VFIO_IRQ_SET_DATA_NONE: number;
  VFIO_IRQ_SET_DATA_EVENTFD: number;
  VFIO_IRQ_SET_ACTION_TRIGGER: number;
  VFIO_IRQ_INFO_MASKABLE: number;
  VFIO_IRQ_INFO_AUTOMASKED: number;
  VFIO_IRQ_INFO_NORESIZE: number;
  VFIO_IRQ_SET_DATA_BOOL: number;
  VFIO_IRQ_SET_ACTION_MASK: number;
  VFIO_IRQ_SET_ACTION_UNMASK: number;
  VFIO_PCI_ERR_IRQ_INDEX: number;
  VFIO_PCI_REQ_IRQ_INDEX: number;
  VFIO_PCI_ROM_REGION_INDEX: number;
  VFIO_EEH_PE_DISABLE: number;
  VFIO_EEH_PE_ENABLE: number;
  VFIO_EEH_PE_UNFREEZE_IO: number;
  VFIO_EEH_PE_UNFREEZE_DMA: number;
  VFIO_EEH_PE_GET_STATE: number;
  VFIO_EEH_PE_RESET_DEACTIVATE: number;
  VFIO_EEH_PE_RESET_HOT: number;
  VFIO_EEH_PE_RESET_FUNDAMENTAL: number;
  VFIO_EEH_PE_CONFIGURE: number;
  VFIO_EEH_PE_INJECT_ERR: number;
  /** Every VFIO ioctl request number by name, as the target encodes it. */
  ioctls: Record<string, number>;
}

/** The addon's whole surface. fds are plain numbers; addresses, IOVAs and sizes are bigint. */
export interface NativeBinding {
  constants: NativeConstants;
  /** 'ppc64le', 'x86_64', ...: the architecture the addon was compiled for. */
  targetArch: string;

  // container (/dev/vfio/vfio)
  openContainer(): number;
  closeFd(fd: number): void;
  getApiVersion(fd: number): number;
  checkExtension(fd: number, extension: number): number;
  setIommu(fd: number, type: number): void;
  spaprTceGetInfo(fd: number): SpaprTceInfo;
  iommuEnable(fd: number): void;
  iommuDisable(fd: number): void;
  /** flags and argsz default to 0 and sizeof(struct); overridable to measure the kernel. */
  registerMemory(fd: number, vaddr: bigint, size: bigint, flags?: number, argsz?: number): void;
  /** Same ioctl on the libuv pool: pinning gigabytes takes seconds. */
  registerMemoryAsync(fd: number, vaddr: bigint, size: bigint): Promise<void>;
  unregisterMemory(fd: number, vaddr: bigint, size: bigint, flags?: number, argsz?: number): void;
  mapDma(fd: number, vaddr: bigint, iova: bigint, size: bigint, flags: number): void;
  /**
   * MAP_DMA for each (vaddr, iova, size, flags) quadruple of `ranges`, in order, in one call.
   * Stops at the first failure, whose NativeError carries `index`: the entries before it are
   * mapped. Returns the number of entries mapped (all of them).
   */
  mapDmaBatch(fd: number, ranges: BigUint64Array): number;
  unmapDma(fd: number, iova: bigint, size: bigint, flags?: number): void;
  /** Returns the window's start_addr. */
  spaprTceCreate(fd: number, pageShift: number, windowSize: bigint, levels: number): bigint;
  spaprTceRemove(fd: number, startAddr: bigint): void;
  /** Returns the ioctl's non-negative result (the PE state for GET_STATE). */
  eehPeOp(
    fd: number,
    op: number,
    err?: { type: number; func: number; addr: bigint; mask: bigint },
  ): number;

  // group (/dev/vfio/N)
  openGroup(group: number): number;
  groupGetStatus(fd: number): number;
  groupSetContainer(groupFd: number, containerFd: number): void;
  groupUnsetContainer(groupFd: number): void;
  groupGetDeviceFd(groupFd: number, name: string): number;

  // device
  deviceGetInfo(fd: number): DeviceInfo;
  deviceGetRegionInfo(fd: number, index: number): RegionInfo;
  deviceGetIrqInfo(fd: number, index: number): IrqInfo;
  /**
   * VFIO_DEVICE_SET_IRQS. `data` holds `count` items: eventfds (-1 de-assigns) with
   * VFIO_IRQ_SET_DATA_EVENTFD, booleans with VFIO_IRQ_SET_DATA_BOOL; none with DATA_NONE.
   */
  deviceSetIrqs(
    fd: number,
    index: number,
    start: number,
    count: number,
    flags: number,
    data?: number[] | boolean[],
  ): void;
  deviceReset(fd: number): void;
  /** Asks with room for `capacity` devices; ENOSPC is answered (devices null), not thrown. */
  deviceGetPciHotResetInfo(fd: number, capacity: number): HotResetInfo;
  devicePciHotReset(fd: number, groupFds: number[]): void;
  /** Returns the bytes transferred (may be short). */
  pread(fd: number, target: Uint8Array, offset: bigint): number;
  pwrite(fd: number, source: Uint8Array, offset: bigint): number;
  /** Shared mmap of a device region as an external ArrayBuffer (unmapped by unmapRegion or GC). */
  mmapRegion(fd: number, offset: bigint, size: number, writable: boolean): ArrayBuffer;
  unmapRegion(buffer: ArrayBuffer): void;
  /** One load of the given width, with readl-style ordering after it. */
  mmioRead(buffer: ArrayBuffer, offset: number, width: MmioWidth, bigEndian: boolean): bigint;
  /** A full sync, then one store of the given width (writel-style). */
  mmioWrite(
    buffer: ArrayBuffer,
    offset: number,
    width: MmioWidth,
    value: bigint,
    bigEndian: boolean,
  ): void;

  // eventfds (IRQs)
  eventfdCreate(): number;
  /** Non-blocking read: the counter, or 0n when nothing is pending. */
  eventfdRead(fd: number): bigint;
  eventfdWrite(fd: number, value: bigint): void;
  /**
   * Calls onEvent with the counter each time the fd fires. One epoll thread per process polls
   * every watched fd (not the libuv pool, whose threads a wait would starve); it exists only
   * while something is watched, and a watch never keeps the event loop alive.
   */
  eventfdWatch(fd: number, onEvent: (count: bigint) => void): EventfdWatcher;

  // memory
  allocBuffer(size: number, backing: BufferBacking, hugePageSize?: number): NativeBuffer;
  /** munmap, close the memfd, and detach the ArrayBuffer so no JS view outlives the mapping. */
  freeBuffer(buffer: ArrayBuffer): void;
  addressOf(buffer: ArrayBuffer): bigint;
  pageSize(): number;
  /** Default huge page size from /proc/meminfo, 0 when the kernel has none. */
  hugePageSize(): number;
  /**
   * MAX_PAGE_ORDER from /proc/buddyinfo: the kernel allocates at most pageSize << order bytes
   * in one contiguous block. -1 when the file cannot be read.
   */
  maxPageOrder(): number;

  // process
  getMemlockLimit(): MemlockLimit;
  setMemlockLimit(soft: bigint, hard: bigint): void;
  /** VmLck from /proc/self/status, in bytes. */
  vmLockedBytes(): bigint;
  hasCapIpcLock(): boolean;
  /** The pid in element 0, rewritten in the child of a fork(): reading it makes no call. */
  pidCell: ArrayLike<number>;

  // the process's registrations (native/registry.cc), as the kernel keeps them: per process,
  // shared by every container and worker_thread
  /**
   * Books a kernel-level registration before its ioctl: the holders it had (0: new, charged;
   * more: an identical range, shared at no charge). A non-identical overlap throws
   * ERR_VFIO_NATIVE_REGISTRATION_OVERLAP with conflictAddress and conflictSize.
   */
  registryAcquire(address: bigint, size: bigint): number;
  /** Drops a holder after the unregister (or a failed register): holders left, -1 if unknown. */
  registryRelease(address: bigint, size: bigint): number;
  /** The kernel accepted the registration: it is in VmLck now. */
  registryConfirm(address: bigint, size: bigint): void;
  /** Bytes booked whose register ioctl has not returned (on any thread): not in VmLck yet. */
  registryPendingBytes(): bigint;

  // guest IOMMU (native/guest_memory.cc, native/guest_table*.cc): a VMM's guest RAM slots
  // and guest TCE tables. Table calls take the container fd, or -1 to record the ioctls
  // (guestTableTakeOps) instead of issuing them. A refusal of the guest's request throws
  // ERR_VFIO_NATIVE_GUEST_REFUSED with `reason` and `index`; a kernel refusal the errno with
  // `index`; the entries before `index` are done.
  guestMemoryCreate(): NativeGuestMemory;
  /** Returns the slot's id; ERR_VFIO_NATIVE_SLOT_OVERLAP when it overlaps a slot. */
  guestMemoryAddSlot(
    memory: NativeGuestMemory,
    gpa: bigint,
    size: bigint,
    hostAddress: bigint,
    backingPageSize: bigint,
  ): number;
  /** Removes the slot unless guest TCEs point into it; returns how many do (0: removed). */
  guestMemoryRemoveSlot(memory: NativeGuestMemory, slot: number): number;
  guestMemorySlotUsers(memory: NativeGuestMemory, slot: number): number;
  /** The host address of a guest-physical address, or undefined outside every slot. */
  guestMemoryTranslate(memory: NativeGuestMemory, gpa: bigint): bigint | undefined;
  guestTableCreate(
    memory: NativeGuestMemory,
    start: bigint,
    pageShift: number,
    size: bigint,
  ): NativeGuestTable;
  /** H_PUT_TCE. */
  guestTablePut(table: NativeGuestTable, fd: number, ioba: bigint, tce: bigint): void;
  /** H_PUT_TCE_INDIRECT from a host-order list. */
  guestTablePutList(
    table: NativeGuestTable,
    fd: number,
    ioba: bigint,
    tces: BigUint64Array,
    count: number,
  ): void;
  /** H_PUT_TCE_INDIRECT from the guest's big-endian list at a guest-physical address. */
  guestTablePutIndirect(
    table: NativeGuestTable,
    fd: number,
    ioba: bigint,
    listGpa: bigint,
    count: number,
  ): void;
  /** H_STUFF_TCE. */
  guestTableStuff(
    table: NativeGuestTable,
    fd: number,
    ioba: bigint,
    value: bigint,
    count: number,
  ): void;
  /** H_GET_TCE. */
  guestTableGet(table: NativeGuestTable, ioba: bigint): bigint;
  /** [tce, host address] of a live entry at a bus address, or undefined. */
  guestTableTranslate(table: NativeGuestTable, iova: bigint): BigUint64Array | undefined;
  guestTableLiveCount(table: NativeGuestTable): number;
  /** Unmaps every live entry and empties the table. */
  guestTableClear(table: NativeGuestTable, fd: number): void;
  /** Maps every live entry again. */
  guestTableReinstall(table: NativeGuestTable, fd: number): void;
  /** The recorded ioctls, (op 1 MAP | 2 UNMAP, iova, size, vaddr, flags) each, then forgets them. */
  guestTableTakeOps(table: NativeGuestTable): BigUint64Array;
}

/** A guest memory map made by the addon (opaque). */
export interface NativeGuestMemory {
  readonly __guestMemory: unique symbol;
}

/** A guest TCE table made by the addon (opaque). */
export interface NativeGuestTable {
  readonly __guestTable: unique symbol;
}

let loaded: NativeBinding | undefined;

/** The real addon, loaded once (prebuilds/ first, then build/Release, by node-gyp-build). */
export function nativeBinding(): NativeBinding {
  if (loaded === undefined) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const load = require('node-gyp-build') as (dir: string) => NativeBinding;
    loaded = load(path.join(__dirname, '..', '..'));
  }
  return loaded;
}
