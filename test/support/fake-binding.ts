// A fake of the native binding for host unit tests. It models the rows of docs/kernel.md that
// the library's behaviour depends on (each named by its id where it is modelled, and each
// re-measured against the real kernel by the VM suite), in the kernel's order of checks, with
// the kernel's constants from lib/kernel-constants.ts; and it records every ioctl so tests can
// prove that a refusal happened before the kernel was asked.
import {
  nativeBinding,
  type NativeBinding,
  type NativeConstants,
  type NativeError,
  type SpaprTceInfo,
} from '../../lib/binding';
import {
  DDW_PAGE_SIZE_MASKS,
  DEFAULT_WINDOW,
  DYNAMIC_WINDOW_START,
  MAX_TABLE_LEVELS,
  MAX_WINDOWS,
} from '../../lib/kernel-constants';
import { defaultWindowTableBytes, tceTableBytes, v1DefaultEnableBytes } from '../../lib/memlock';
import { FakeDevices, type FakeDeviceSpec } from './fake-device';
import { fakeGuestCalls } from './fake-guest';
import { fakeRegistry } from './fake-registry';

export interface FakeKernelOptions {
  /** 4096 or 65536: the guest kernel's page size. */
  pageSize?: number;
  /** RLIMIT_MEMLOCK soft limit in bytes. */
  memlockLimit?: bigint;
  capIpcLock?: boolean;
  /** false: a pre-IODA2 host (no DDW flag, one group per container). */
  ioda2?: boolean;
  /** Groups that exist and whether they are viable. */
  groups?: Record<number, { viable: boolean; devices?: string[] }>;
  /** MAX_PAGE_ORDER; default: 16 MiB blocks, as the guest kernels. */
  maxPageOrder?: number;
  /** false: /proc/buddyinfo cannot be read (the binding says -1; the kernel's limit stays). */
  buddyinfo?: boolean;
  /** What every device looks like (fake-device.ts; default: edu). */
  device?: FakeDeviceSpec;
  /**
   * true: buffers are real memory from the addon (real addresses), for code that reads them
   * natively, such as a guest's H_PUT_TCE_INDIRECT list; false (default): fake addresses.
   */
  realMemory?: boolean;
}

function fail(code: string, errno: number, ioctl?: string): never {
  const error = new Error(`${ioctl ?? 'call'}: ${code}`) as NativeError;
  error.code = code;
  error.errno = -errno;
  error.syscall = ioctl ? 'ioctl' : 'open';
  if (ioctl) error.ioctl = ioctl;
  throw error;
}

const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ENXIO: 6,
  EBADF: 9,
  ENOMEM: 12,
  EBUSY: 16,
  EINVAL: 22,
  ENOTTY: 25,
  ENOSPC: 28,
};
type Errno = keyof typeof ERRNO;
function err(code: Errno, ioctl?: string): never {
  return fail(code, ERRNO[code], ioctl);
}

const CONSTANTS: NativeConstants = {
  VFIO_API_VERSION: 0,
  VFIO_TYPE1_IOMMU: 1,
  VFIO_SPAPR_TCE_IOMMU: 2,
  VFIO_SPAPR_TCE_v2_IOMMU: 7,
  VFIO_EEH: 5,
  VFIO_GROUP_FLAGS_VIABLE: 1,
  VFIO_GROUP_FLAGS_CONTAINER_SET: 2,
  VFIO_IOMMU_SPAPR_INFO_DDW: 1,
  VFIO_DMA_MAP_FLAG_READ: 1,
  VFIO_DMA_MAP_FLAG_WRITE: 2,
  VFIO_DEVICE_FLAGS_RESET: 1,
  VFIO_DEVICE_FLAGS_PCI: 2,
  VFIO_REGION_INFO_FLAG_READ: 1,
  VFIO_REGION_INFO_FLAG_WRITE: 2,
  VFIO_REGION_INFO_FLAG_MMAP: 4,
  VFIO_REGION_INFO_FLAG_CAPS: 8,
  VFIO_PCI_BAR0_REGION_INDEX: 0,
  VFIO_PCI_CONFIG_REGION_INDEX: 7,
  VFIO_PCI_NUM_REGIONS: 9,
  VFIO_PCI_INTX_IRQ_INDEX: 0,
  VFIO_PCI_MSI_IRQ_INDEX: 1,
  VFIO_PCI_MSIX_IRQ_INDEX: 2,
  VFIO_IRQ_INFO_EVENTFD: 1,
  VFIO_IRQ_SET_DATA_NONE: 1,
  VFIO_IRQ_SET_DATA_EVENTFD: 4,
  VFIO_IRQ_SET_ACTION_TRIGGER: 32,
  VFIO_IRQ_INFO_MASKABLE: 2,
  VFIO_IRQ_INFO_AUTOMASKED: 4,
  VFIO_IRQ_INFO_NORESIZE: 8,
  VFIO_IRQ_SET_DATA_BOOL: 2,
  VFIO_IRQ_SET_ACTION_MASK: 8,
  VFIO_IRQ_SET_ACTION_UNMASK: 16,
  VFIO_PCI_ERR_IRQ_INDEX: 3,
  VFIO_PCI_REQ_IRQ_INDEX: 4,
  VFIO_PCI_ROM_REGION_INDEX: 6,
  VFIO_EEH_PE_DISABLE: 0,
  VFIO_EEH_PE_ENABLE: 1,
  VFIO_EEH_PE_UNFREEZE_IO: 2,
  VFIO_EEH_PE_UNFREEZE_DMA: 3,
  VFIO_EEH_PE_GET_STATE: 4,
  VFIO_EEH_PE_RESET_DEACTIVATE: 5,
  VFIO_EEH_PE_RESET_HOT: 6,
  VFIO_EEH_PE_RESET_FUNDAMENTAL: 7,
  VFIO_EEH_PE_CONFIGURE: 8,
  VFIO_EEH_PE_INJECT_ERR: 9,
  ioctls: {},
};

interface FakeContainer {
  type: 'v1' | 'v2' | null;
  groups: number[];
  /** The kernel's container->enabled: v1 ENABLE, or v2's first registration. */
  enabled: boolean;
  pid: number;
  defaultPending: boolean;
  regions: Map<bigint, bigint>;
  windows: { start: bigint; size: bigint; shift: number; tableBytes: bigint }[];
  /** TCE entries: IOVA page -> vaddr, per window start. */
  tces: Map<bigint, bigint>;
  lockedByMe: bigint;
  /** Registrations whose pin this container pays for (an identical range is shared: one pays). */
  paysFor: Set<bigint>;
}

/** The fake kernel plus the process it runs in. */
export class FakeKernel {
  readonly pageSize: number;
  memlockLimit: bigint;
  capIpcLock: boolean;
  readonly ioda2: boolean;
  readonly groups: Record<number, { viable: boolean; devices?: string[] }>;
  readonly maxPageOrder: number;
  readonly buddyinfo: boolean;
  readonly realMemory: boolean;
  /** The process's registrations as the addon books them (see fake-registry.ts). */
  readonly registry = fakeRegistry();
  /** The guest IOMMU's recorded ioctls, one array per call (see fake-guest.ts). */
  readonly guestOps: BigUint64Array[] = [];
  /**
   * Fail the next TCE table allocation as a fragmented page allocator would, with the
   * kernel's charge left behind.
   */
  failNextTableAllocation = false;
  /** Every ioctl issued, by name, in order (and the device fd's pread/pwrite/mmap). */
  readonly ioctls: string[] = [];
  /** The device side: device fds, interrupts, resets, region memory, eventfds. */
  readonly devices: FakeDevices;
  locked = 0n;
  /** What the binding's pidCell holds, as the addon's does: a test simulates fork() via pid. */
  private readonly pidCell = new Int32Array([1000]);
  get pid(): number {
    return this.pidCell[0];
  }
  set pid(value: number) {
    this.pidCell[0] = value;
  }
  private nextFd = 10;
  private nextAddress = 0x7f0000000000n;
  private readonly containers = new Map<number, FakeContainer>();
  private readonly groupFds = new Map<number, { group: number; container: number | null }>();
  private readonly buffers = new Map<ArrayBuffer, { address: bigint; freed: boolean }>();

  constructor(options: FakeKernelOptions = {}) {
    this.pageSize = options.pageSize ?? 65536;
    this.memlockLimit = options.memlockLimit ?? (1n << 64n) - 1n;
    this.capIpcLock = options.capIpcLock ?? false;
    this.ioda2 = options.ioda2 ?? true;
    this.maxPageOrder = options.maxPageOrder ?? Math.log2((16 * 1024 * 1024) / this.pageSize);
    this.buddyinfo = options.buddyinfo ?? true;
    this.realMemory = options.realMemory ?? false;
    this.groups = options.groups ?? {
      0: { viable: true },
      1: { viable: true },
      2: { viable: false },
    };
    this.devices = new FakeDevices(
      {
        newFd: () => this.nextFd++,
        log: (call) => this.ioctls.push(call),
        groupOf: (fd) => this.groupFds.get(fd)?.group,
      },
      options.device,
    );
  }

  /** The kernel's side of a container, for tests that hold the library's books against it. */
  inspect(fd: number):
    | {
        type: 'v1' | 'v2' | null;
        enabled: boolean;
        regions: ReadonlyMap<bigint, bigint>;
        windows: readonly { start: bigint; size: bigint; shift: number; tableBytes: bigint }[];
        tces: ReadonlyMap<bigint, bigint>;
        locked: bigint;
        /** Of `locked`, the registrations this container pays for (shared ones are paid once). */
        paidRegionBytes: bigint;
      }
    | undefined {
    const c = this.containers.get(fd);
    if (!c) return undefined;
    let paidRegionBytes = 0n;
    for (const vaddr of c.paysFor) paidRegionBytes += c.regions.get(vaddr) ?? 0n;
    return { ...c, locked: c.lockedByMe, paidRegionBytes };
  }

  /** The container fds open in the fake kernel. */
  containerFds(): number[] {
    return [...this.containers.keys()];
  }

  /** The binding the library sees. */
  binding(): NativeBinding {
    const k = this;
    const charge = (c: FakeContainer, bytes: bigint, ioctl: string) => {
      if (!k.capIpcLock && k.locked + bytes > k.memlockLimit) err('ENOMEM', ioctl);
      k.locked += bytes;
      c.lockedByMe += bytes;
    };
    // A container lets go of a registration: the pin stays while another container of the
    // process holds the identical range (the charge moves to it), else it is released.
    const releasePin = (c: FakeContainer, vaddr: bigint, size: bigint) => {
      if (!c.paysFor.delete(vaddr)) return;
      c.lockedByMe -= size;
      const heir = [...k.containers.values()].find((o) => o !== c && o.regions.get(vaddr) === size);
      if (heir) {
        heir.lockedByMe += size;
        heir.paysFor.add(vaddr);
      } else {
        k.locked -= size;
      }
    };
    const releaseAllPins = (c: FakeContainer) => {
      for (const [vaddr, size] of c.regions) releasePin(c, vaddr, size);
    };
    const container = (fd: number, ioctl: string): FakeContainer => {
      const c = k.containers.get(fd);
      if (!c) err('EBADF', ioctl);
      if (c.pid !== k.pid) err('EPERM', ioctl);
      k.ioctls.push(ioctl);
      return c;
    };
    // map.lazy-default-window: the first map, unmap or window call creates it and charges it.
    const materializeDefault = (c: FakeContainer, ioctl: string) => {
      if (!c.defaultPending) return;
      const bytes = defaultWindowTableBytes(BigInt(k.pageSize));
      charge(c, bytes, ioctl);
      const { start, size, pageShift } = DEFAULT_WINDOW;
      c.windows.push({ start, size, shift: pageShift, tableBytes: bytes });
      c.defaultPending = false;
    };
    // map.misaligned-iova: the kernel's check returns +1, not -1 with an errno.
    const returnsOne = (ioctl: string): never => {
      const e = new Error(`${ioctl} returned 1`) as NativeError;
      e.code = 'ERR_VFIO_UNEXPECTED_RETURN';
      e.returnValue = 1;
      e.ioctl = ioctl;
      throw e;
    };
    const windowOf = (c: FakeContainer, iova: bigint) =>
      c.windows.find((w) => iova >= w.start && iova < w.start + w.size);
    const binding: NativeBinding = {
      constants: CONSTANTS,
      targetArch: 'fake',
      openContainer() {
        const fd = k.nextFd++;
        k.containers.set(fd, {
          type: null,
          groups: [],
          enabled: false,
          pid: k.pid,
          defaultPending: false,
          regions: new Map(),
          windows: [],
          tces: new Map(),
          lockedByMe: 0n,
          paysFor: new Set(),
        });
        return fd;
      },
      closeFd(fd) {
        k.devices.close(fd);
        const c = k.containers.get(fd);
        if (c) {
          releaseAllPins(c);
          k.containers.delete(fd);
          k.locked -= c.lockedByMe;
        }
        const g = k.groupFds.get(fd);
        k.groupFds.delete(fd);
        const owner = g?.container == null ? undefined : k.containers.get(g.container);
        if (g && owner) {
          // Closing a group detaches it; detaching the last one releases the container's
          // IOMMU: every registration, window and TCE, and their locked memory (measured).
          owner.groups.splice(owner.groups.indexOf(g.group), 1);
          if (owner.groups.length === 0) {
            releaseAllPins(owner);
            owner.regions = new Map();
            k.locked -= owner.lockedByMe;
            Object.assign(owner, {
              type: null,
              enabled: false,
              defaultPending: false,
              regions: new Map(),
              windows: [],
              tces: new Map(),
              lockedByMe: 0n,
              paysFor: new Set(),
            });
          }
        }
      },
      getApiVersion: () => 0,
      checkExtension: (_fd, ext) => (ext === 2 || ext === 7 || ext === 5 ? 1 : 0),
      setIommu(fd, type) {
        const c = container(fd, 'VFIO_SET_IOMMU');
        if (c.groups.length === 0 || c.type !== null) err('EINVAL', 'VFIO_SET_IOMMU');
        c.type = type === 7 ? 'v2' : 'v1';
        c.defaultPending = true;
      },
      spaprTceGetInfo(fd): SpaprTceInfo {
        const c = container(fd, 'VFIO_IOMMU_SPAPR_TCE_GET_INFO');
        const ddw = k.ioda2 && c.type === 'v2';
        // info.v2 and info.v1: a PHB3 (POWER8) host
        return {
          flags: ddw ? 1 : 0,
          dma32WindowStart: DEFAULT_WINDOW.start,
          dma32WindowSize: DEFAULT_WINDOW.size,
          ddw: ddw
            ? {
                pgsizes: DDW_PAGE_SIZE_MASKS[8],
                maxDynamicWindows: MAX_WINDOWS,
                levels: MAX_TABLE_LEVELS,
              }
            : { pgsizes: 0n, maxDynamicWindows: 0, levels: 0 },
        };
      },
      iommuEnable(fd) {
        const c = container(fd, 'VFIO_IOMMU_ENABLE');
        if (c.type !== 'v1') err('ENOTTY', 'VFIO_IOMMU_ENABLE');
        if (c.enabled) err('EBUSY', 'VFIO_IOMMU_ENABLE'); // v1.enable-twice
        charge(c, v1DefaultEnableBytes(BigInt(k.pageSize)), 'VFIO_IOMMU_ENABLE'); // v1.enable-charge
        c.enabled = true;
      },
      iommuDisable(fd) {
        const c = container(fd, 'VFIO_IOMMU_DISABLE');
        if (c.type !== 'v1') err('ENOTTY', 'VFIO_IOMMU_DISABLE');
        if (c.enabled) {
          const bytes = v1DefaultEnableBytes(BigInt(k.pageSize));
          k.locked -= bytes;
          c.lockedByMe -= bytes;
        }
        c.enabled = false;
      },
      registerMemory(fd, vaddr, size, flags = 0, argsz = 24) {
        const ioctl = 'VFIO_IOMMU_SPAPR_REGISTER_MEMORY';
        const c = container(fd, ioctl);
        if (c.type !== 'v2') err('ENOTTY', ioctl); // v1.register-enotty
        if (flags !== 0 || argsz < 24) err('EINVAL', ioctl); // reg.flags-argsz
        const page = BigInt(k.pageSize);
        if (vaddr % page || size % page) err('EINVAL', ioctl); // reg.misaligned
        if (size === 0n) err('ENOMEM', ioctl); // reg.size-zero
        if (c.regions.get(vaddr) === size) err('EBUSY', ioctl); // reg.same-range
        // One list per process (mm), as the kernel keeps it: another container's identical
        // range is shared, pinned and charged once (reg.cross-container-identical); any other
        // overlap is EINVAL (reg.overlap, reg.cross-container-overlap).
        let shared = false;
        for (const other of k.containers.values()) {
          for (const [a, s] of other.regions) {
            const identical = other !== c && a === vaddr && s === size;
            if (!identical && a < vaddr + size && vaddr < a + s) err('EINVAL', ioctl);
            shared ||= identical;
          }
        }
        if (!shared) {
          charge(c, size, ioctl); // reg.charge, reg.beyond-limit-*
          c.paysFor.add(vaddr);
        }
        c.regions.set(vaddr, size);
        c.enabled = true;
      },
      async registerMemoryAsync(fd, vaddr, size) {
        await new Promise((resolve) => setImmediate(resolve));
        binding.registerMemory(fd, vaddr, size);
      },
      unregisterMemory(fd, vaddr, size) {
        const ioctl = 'VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY';
        const c = container(fd, ioctl);
        if (c.type !== 'v2') err('ENOTTY', ioctl);
        const page = BigInt(k.pageSize);
        if (vaddr % page || size % page) err('EINVAL', ioctl); // reg.unregister-other-size
        if (c.regions.get(vaddr) !== size) err('ENOENT', ioctl); // reg.unregister-other-size, -twice
        // reg.unregister-while-mapped: 0, and the pin stays charged until the process exits.
        const stillMapped = [...c.tces.values()].some((va) => va >= vaddr && va < vaddr + size);
        if (!stillMapped) releasePin(c, vaddr, size);
        else c.paysFor.delete(vaddr); // leaked: charged until the process exits
        c.regions.delete(vaddr);
      },
      mapDma(fd, vaddr, iova, size, flags) {
        const ioctl = 'VFIO_IOMMU_MAP_DMA';
        const c = container(fd, ioctl);
        // v1.map-before-enable, reg.map-unregistered-first: EPERM before any registration
        if (!c.enabled) err('EPERM', ioctl);
        if (flags & ~3) err('EINVAL', ioctl);
        materializeDefault(c, ioctl);
        const w = windowOf(c, iova);
        if (!w) err('ENXIO', ioctl); // map.beyond-window
        const page = 1n << BigInt(w.shift);
        if (size % page || vaddr % page) err('EINVAL', ioctl); // map.size-unaligned
        if (flags === 0) err('EINVAL', ioctl); // map.flags-zero
        if (iova % page) returnsOne(ioctl);
        for (let off = 0n; off < size; off += page) {
          const va = vaddr + off;
          // reg.map-unregistered-later: EINVAL once the container has a registration
          if (c.type === 'v2' && ![...c.regions].some(([a, s]) => va >= a && va < a + s)) {
            err('EINVAL', ioctl);
          }
        }
        // map.past-window-end: only the first page is checked against the window end;
        // map.same-iova: an occupied entry is replaced.
        for (let off = 0n; off < size; off += page) c.tces.set(iova + off, vaddr + off);
      },
      mapDmaBatch(fd, ranges) {
        if (!(ranges instanceof BigUint64Array) || ranges.length % 4 !== 0) err('EINVAL');
        for (let i = 0; i < ranges.length; i += 4) {
          try {
            binding.mapDma(fd, ranges[i], ranges[i + 1], ranges[i + 2], Number(ranges[i + 3]));
          } catch (error) {
            (error as NativeError).index = i / 4;
            throw error;
          }
        }
        return ranges.length / 4;
      },
      unmapDma(fd, iova, size) {
        const ioctl = 'VFIO_IOMMU_UNMAP_DMA';
        const c = container(fd, ioctl);
        if (!c.enabled) err('EPERM', ioctl); // reg.unmap-before-registration
        materializeDefault(c, ioctl);
        const w = windowOf(c, iova);
        if (!w) err('ENXIO', ioctl);
        const page = 1n << BigInt(w.shift);
        if (size % page) err('EINVAL', ioctl);
        if (iova % page) returnsOne(ioctl);
        // map.unmap-unmapped: clearing entries that hold nothing is 0
        for (let off = 0n; off < size; off += page) c.tces.delete(iova + off);
      },
      spaprTceCreate(fd, pageShift, windowSize, levels) {
        const ioctl = 'VFIO_IOMMU_SPAPR_TCE_CREATE';
        const c = container(fd, ioctl);
        if (c.type !== 'v2') err('ENOTTY', ioctl); // v1.register-enotty
        materializeDefault(c, ioctl);
        if (c.windows.length >= MAX_WINDOWS) err('ENOSPC', ioctl); // window.limit
        if (!(DDW_PAGE_SIZE_MASKS[8] & (1n << BigInt(pageShift)))) err('EINVAL', ioctl);
        if (levels < 1 || levels > MAX_TABLE_LEVELS) err('EINVAL', ioctl);
        // window.charge: the table and its userspace view, every level counted
        const bytes = tceTableBytes(pageShift, windowSize, levels, BigInt(k.pageSize));
        charge(c, bytes, ioctl);
        // pnv_pci_ioda2_table_alloc_pages: the entries split evenly over the levels, each
        // level one block of 2^(entries shift / levels, rounded up) entries of 8 bytes.
        const entriesShift = Math.log2(Number(windowSize)) - pageShift;
        const levelShift = Math.max(Math.ceil(entriesShift / levels) + 3, Math.log2(k.pageSize));
        const levelTooLarge = levelShift > Math.log2(k.pageSize) + k.maxPageOrder;
        if (levelTooLarge || k.failNextTableAllocation) {
          // window.level-too-large: the charge stays with the process (c.lockedByMe is the
          // container's, returned at close; k.locked is the process's).
          k.failNextTableAllocation = false;
          c.lockedByMe -= bytes;
          err('ENOMEM', ioctl);
        }
        // window.create, window.remove-default: a new window takes the free bus range
        const start = c.windows.some((w) => w.start === 0n) ? DYNAMIC_WINDOW_START : 0n;
        c.windows.push({ start, size: windowSize, shift: pageShift, tableBytes: bytes });
        return start;
      },
      spaprTceRemove(fd, startAddr) {
        const ioctl = 'VFIO_IOMMU_SPAPR_TCE_REMOVE';
        const c = container(fd, ioctl);
        if (c.type !== 'v2') err('ENOTTY', ioctl);
        if (c.defaultPending && startAddr === 0n) {
          c.defaultPending = false;
          return;
        }
        const index = c.windows.findIndex((w) => w.start === startAddr);
        if (index < 0) err('EINVAL', ioctl);
        const [w] = c.windows.splice(index, 1);
        k.locked -= w.tableBytes;
        c.lockedByMe -= w.tableBytes;
        // window.remove-with-mappings: the window's entries go with its table
        for (const iova of c.tces.keys()) {
          if (iova >= w.start && iova < w.start + w.size) c.tces.delete(iova);
        }
      },
      eehPeOp(fd) {
        container(fd, 'VFIO_EEH_PE_OP');
        return 0;
      },
      openGroup(group) {
        if (!k.groups[group]) err('ENOENT');
        const fd = k.nextFd++;
        k.groupFds.set(fd, { group, container: null });
        return fd;
      },
      groupGetStatus(fd) {
        const g = k.groupFds.get(fd);
        if (!g) err('EBADF', 'VFIO_GROUP_GET_STATUS');
        k.ioctls.push('VFIO_GROUP_GET_STATUS');
        return (k.groups[g.group].viable ? 1 : 0) | (g.container !== null ? 2 : 0);
      },
      groupSetContainer(groupFd, containerFd) {
        const ioctl = 'VFIO_GROUP_SET_CONTAINER';
        const g = k.groupFds.get(groupFd);
        const c = container(containerFd, ioctl);
        if (!g) err('EBADF', ioctl);
        if (!k.groups[g.group].viable) err('EPERM', ioctl);
        if (g.container !== null) err('EINVAL', ioctl);
        // container.v1-second-group: v1 tables are not shared between PEs (nor on pre-IODA2)
        if (c.groups.length > 0 && (!k.ioda2 || c.type === 'v1')) err('EBUSY', ioctl);
        g.container = containerFd;
        c.groups.push(g.group);
      },
      groupUnsetContainer(groupFd) {
        const g = k.groupFds.get(groupFd);
        if (!g || g.container === null) err('EINVAL', 'VFIO_GROUP_UNSET_CONTAINER');
        g.container = null;
      },
      ...k.devices.functions(),
      mmioRead(buffer, offset, width, bigEndian) {
        const view = new DataView(buffer);
        const le = !bigEndian;
        if (width === 8) return BigInt(view.getUint8(offset));
        if (width === 16) return BigInt(view.getUint16(offset, le));
        if (width === 32) return BigInt(view.getUint32(offset, le));
        return view.getBigUint64(offset, le);
      },
      mmioWrite(buffer, offset, width, value, bigEndian) {
        const view = new DataView(buffer);
        const le = !bigEndian;
        if (width === 8) view.setUint8(offset, Number(value));
        else if (width === 16) view.setUint16(offset, Number(value), le);
        else if (width === 32) view.setUint32(offset, Number(value), le);
        else view.setBigUint64(offset, value, le);
      },
      allocBuffer(size, _backing, hugePageSize) {
        if (k.realMemory) {
          const real = nativeBinding().allocBuffer(size, 'anonymous');
          k.buffers.set(real.buffer, { address: real.address, freed: false });
          return { buffer: real.buffer, address: real.address, fd: -1 };
        }
        const page = BigInt(hugePageSize ?? k.pageSize);
        const buffer = new ArrayBuffer(size);
        const address = ((k.nextAddress + page - 1n) / page) * page;
        k.nextAddress = address + ((BigInt(size) + page - 1n) / page) * page + page;
        k.buffers.set(buffer, { address, freed: false });
        return { buffer, address, fd: -1 };
      },
      freeBuffer(buffer) {
        const b = k.buffers.get(buffer);
        if (!b || b.freed) err('EINVAL');
        b.freed = true;
        if (k.realMemory) nativeBinding().freeBuffer(buffer);
      },
      addressOf(buffer) {
        const b = k.buffers.get(buffer);
        if (!b) err('EINVAL');
        return b.address;
      },
      pageSize: () => k.pageSize,
      maxPageOrder: () => (k.buddyinfo ? k.maxPageOrder : -1),
      hugePageSize: () => 16 * 1024 * 1024,
      getMemlockLimit: () => ({ soft: k.memlockLimit, hard: k.memlockLimit }),
      setMemlockLimit(soft) {
        k.memlockLimit = soft;
      },
      vmLockedBytes: () => k.locked,
      hasCapIpcLock: () => k.capIpcLock,
      pidCell: k.pidCell,
      ...k.registry,
      ...fakeGuestCalls(() => binding, k.guestOps),
    };
    return binding;
  }
}
