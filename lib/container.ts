// The VFIO container with the SPAPR TCE IOMMU: groups, IOMMU type, windows, memory
// registration and DMA mappings. Every request is checked against the ledger and the
// locked-memory prediction before the kernel is asked.
import { nativeBinding, type NativeBinding, type NativeError } from './binding';
import { installDispose } from './dispose';
import { DmaBuffer } from './dma-buffer';
import { Eeh } from './eeh';
import {
  ArgumentRangeError,
  GroupLimitError,
  GroupNotViableError,
  HugetlbRegistrationError,
  IommuTypeError,
  InvalidArgumentError,
  NoDynamicWindowsError,
  NotEnabledError,
  NotRegisteredError,
  OperationPendingError,
  PageSizeError,
  RegionOverlapError,
  TceTableAllocationError,
  VfioUnavailableError,
  WindowLimitError,
  callNative,
  callNativeAsync,
} from './errors';
import { Group } from './group';
import { Handle } from './handle';
import {
  Ledger,
  type MapPlan,
  type MappingRecord,
  type RegionRecord,
  type RegisterPlan,
  type WindowRecord,
} from './ledger';
import { Mapping } from './mapping';
import {
  assertFits,
  largestContiguousBlock,
  memlockReport,
  readMemlockStatus,
  tceLevelBytes,
  tceTableBytes,
  v1EnableBytes,
  type MemlockReport,
  type MemlockStatus,
  type PlannedCost,
} from './memlock';
import { Region } from './region';
import {
  hex,
  isPowerOfTwo,
  log2,
  toAddress,
  toIndex,
  toOneOf,
  toOptions,
  toSize,
  orDefault,
} from './validate';
import { Window } from './window';

export type IommuType = 'v2' | 'v1';

export interface ContainerOptions {
  /** The native binding to use (tests pass a fake). */
  binding?: NativeBinding;
}

export interface ContainerInfo {
  /** The default 32-bit DMA window. */
  dma32: { start: bigint; size: bigint };
  /** Dynamic DMA windows; null on hosts without them (pre-IODA2) and on v1 containers. */
  ddw: { pageSizes: bigint[]; maxWindows: number; levels: number } | null;
}

export interface WindowOptions {
  /** IOMMU page size in bytes: one of info().ddw.pageSizes. */
  pageSize: bigint | number;
  /** Window size in bytes: a power of two, a multiple of pageSize. */
  size: bigint | number;
  /** TCE table levels, 1 to info().ddw.levels (default 1). */
  levels?: number;
}

export interface MapOptions {
  /** Offset into the buffer or region (default 0). */
  offset?: bigint | number;
  /** Bytes to map (default: from offset to the end). */
  size?: bigint | number;
  /** The device may read the memory (default true). */
  read?: boolean;
  /** The device may write the memory (default true). */
  write?: boolean;
}

/** One range of Container.mapMany: what map() takes, in one object. */
export interface MapManyEntry extends MapOptions {
  source: DmaBuffer | Region;
  iova: bigint;
}

export interface RegisterOptions {
  /** Offset into the buffer (default 0). */
  offset?: bigint | number;
  /** Bytes to register (default: from offset to the end). */
  size?: bigint | number;
}

export interface CallerOwnedMemoryOptions {
  /** The page size backing the memory (default: the system page size). */
  backingPageSize?: bigint | number;
}

/** What backs a bus address, as the library's books know it. */
export interface TranslationInfo {
  iova: bigint;
  window: Window;
  mapping: Mapping;
  offset: bigint;
  address: bigint;
  region: Region | null;
}

const IOMMU_PAGE_4K = 4096n;
/** Most ranges one mapMany() takes: a sparse array's length is no allocation size. */
const MAX_BATCH = 1 << 20;
/** Async registrations pin at most this much per ioctl (see registerInBackground). */
const ASYNC_REGISTRATION_BLOCK = 16n << 20n;
/** A registration every check allowed, ready for the kernel and the books. */
interface RegistrationRequest extends RegisterPlan {
  readonly backingPageSize: bigint;
  readonly buffer: DmaBuffer | null;
}

interface KernelBlock {
  address: bigint;
  size: bigint;
}

/** At most this many kernel calls per async registration: beyond that, blocks grow. */
const MAX_ASYNC_BLOCKS = 4096n;

function blockSizeFor(backingPageSize: bigint, size: bigint): bigint {
  const block =
    backingPageSize > ASYNC_REGISTRATION_BLOCK ? backingPageSize : ASYNC_REGISTRATION_BLOCK;
  // A size no memory could have (the kernel says EFAULT at the first block) must not become
  // billions of blocks before the first ioctl: bound the count, in whole backing pages.
  const spread = (size + MAX_ASYNC_BLOCKS - 1n) / MAX_ASYNC_BLOCKS;
  if (spread <= block) return block;
  return ((spread + backingPageSize - 1n) / backingPageSize) * backingPageSize;
}

/** [address, address+size) in consecutive blocks of at most `block` bytes. */
function splitRange(address: bigint, size: bigint, block: bigint): KernelBlock[] {
  const blocks: KernelBlock[] = [];
  for (let offset = 0n; offset < size; offset += block) {
    blocks.push({ address: address + offset, size: size - offset < block ? size - offset : block });
  }
  return blocks;
}

export class Container extends Handle {
  /** @internal */ readonly fd: number;
  readonly apiVersion: number;
  private readonly groupList: Group[] = [];
  /** Why the books were emptied without close(): the kernel released the IOMMU. */
  private releasedBecause: string | null = null;
  private type: IommuType | null = null;
  private ledger: Ledger | null = null;
  private cachedInfo: ContainerInfo | null = null;
  private readonly systemPageSize: bigint;
  /** The kernel creates the default window's table at the first map/unmap/create. */
  private defaultWindowPending = false;
  /** The largest block the kernel's page allocator gives, once read (null: unknown). */
  private largestBlock: bigint | null | undefined;
  private v1Enabled = false;
  /** Bytes of async registrations in flight (not yet in VmLck). */
  private pendingLockBytes = 0n;
  /** Regions booked by registerAsync whose ioctl has not returned yet. */
  private readonly pendingRegistration = new Set<RegionRecord>();
  /** How async registrations were split for the kernel; absent: one block, the region. */
  private readonly kernelBlocks = new Map<RegionRecord, KernelBlock[]>();
  private readonly windowHandles = new Map<WindowRecord, Window>();
  readonly eeh: Eeh;

  private constructor(binding: NativeBinding) {
    super(binding, 'VFIO container');
    this.fd = callNative(
      'opening /dev/vfio/vfio',
      () => binding.openContainer(),
      (native) =>
        native.code === 'ENOENT' || native.code === 'ENODEV'
          ? new VfioUnavailableError(
              `no VFIO container device (/dev/vfio/vfio: ${native.code}): this host has no VFIO; ` +
                'load the vfio, vfio_iommu_spapr_tce and vfio-pci modules on a POWER host',
            )
          : undefined,
    );
    this.apiVersion = binding.getApiVersion(this.fd);
    this.systemPageSize = BigInt(binding.pageSize());
    this.eeh = new Eeh(binding, () => {
      this.assertUsable();
      return this.fd;
    });
    if (this.apiVersion !== binding.constants.VFIO_API_VERSION) {
      binding.closeFd(this.fd);
      throw new VfioUnavailableError(
        `VFIO API version ${this.apiVersion}, this library speaks ${binding.constants.VFIO_API_VERSION}`,
      );
    }
  }

  /** Opens /dev/vfio/vfio. */
  static open(options?: ContainerOptions): Container {
    const opts = toOptions<ContainerOptions>('options', options);
    return new Container(opts.binding ?? nativeBinding());
  }

  /** The IOMMU types and extensions this host offers. */
  extensions(): { spaprV1: boolean; spaprV2: boolean; eeh: boolean; type1: boolean } {
    this.assertUsable();
    const c = this.binding.constants;
    const has = (ext: number) =>
      callNative('VFIO_CHECK_EXTENSION', () => this.binding.checkExtension(this.fd, ext)) > 0;
    return {
      spaprV1: has(c.VFIO_SPAPR_TCE_IOMMU),
      spaprV2: has(c.VFIO_SPAPR_TCE_v2_IOMMU),
      eeh: has(c.VFIO_EEH),
      type1: has(c.VFIO_TYPE1_IOMMU),
    };
  }

  /** Attaches a group (opened here when given its number). It must be viable. */
  addGroup(group: number | Group): Group {
    this.assertUsable();
    const g = typeof group === 'number' ? Group.open(group, { binding: this.binding }) : group;
    if (!(g instanceof Group)) throw new InvalidArgumentError('group must be a number or a Group');
    g.assertOpen();
    if (this.groupList.includes(g)) return g;
    try {
      if (!g.status().viable) {
        throw new GroupNotViableError(
          `IOMMU group ${g.number} is not viable: every device in it must be bound to vfio-pci ` +
            '(see `vfio-spapr list` and `vfio-spapr bind`)',
        );
      }
      callNative(
        `attaching group ${g.number} to the container`,
        () => this.binding.groupSetContainer(g.fd, this.fd),
        (native) => this.classifyAttachFailure(native, g),
      );
    } catch (error) {
      if (typeof group === 'number') g.close();
      throw error;
    }
    this.groupList.push(g);
    g.attachTo(this);
    return g;
  }

  groups(): readonly Group[] {
    return this.groupList;
  }

  /** Chooses the IOMMU: 'v2' (pre-registration, dynamic windows) or legacy 'v1'. */
  setIommu(type: IommuType = 'v2'): void {
    this.assertUsable();
    const t = toOneOf('type', type, ['v2', 'v1'] as const);
    if (this.type !== null) throw new IommuTypeError(`the IOMMU type is already ${this.type}`);
    if (this.groupList.length === 0) {
      throw new IommuTypeError('attach a group (addGroup) before choosing the IOMMU type');
    }
    const c = this.binding.constants;
    const code = t === 'v2' ? c.VFIO_SPAPR_TCE_v2_IOMMU : c.VFIO_SPAPR_TCE_IOMMU;
    callNative(`setting the SPAPR TCE ${t} IOMMU`, () => this.binding.setIommu(this.fd, code));
    this.type = t;
    this.releasedBecause = null;
    this.ledger = new Ledger(this.systemPageSize, t === 'v2');
    const { dma32 } = this.info();
    const record = this.ledger.commitWindow(dma32.start, dma32.size, IOMMU_PAGE_4K, 1, true);
    this.windowHandles.set(record, new Window(this, record));
    // 6.12 creates the default window's table lazily for v1 too (measured: +8 MiB at the
    // first v1 map, on top of ENABLE's whole-window charge).
    this.defaultWindowPending = true;
  }

  get iommuType(): IommuType | null {
    return this.type;
  }

  info(): ContainerInfo {
    this.assertUsable();
    if (this.cachedInfo) return this.cachedInfo;
    this.requireType();
    const raw = callNative('VFIO_IOMMU_SPAPR_TCE_GET_INFO', () =>
      this.binding.spaprTceGetInfo(this.fd),
    );
    const hasDdw = (raw.flags & this.binding.constants.VFIO_IOMMU_SPAPR_INFO_DDW) !== 0;
    const pageSizes: bigint[] = [];
    for (let shift = 0n; shift < 64n; shift += 1n) {
      if (raw.ddw.pgsizes & (1n << shift)) pageSizes.push(1n << shift);
    }
    this.cachedInfo = {
      dma32: { start: raw.dma32WindowStart, size: raw.dma32WindowSize },
      ddw: hasDdw
        ? { pageSizes, maxWindows: raw.ddw.maxDynamicWindows, levels: raw.ddw.levels }
        : null,
    };
    return this.cachedInfo;
  }

  windows(): Window[] {
    return this.books()
      .windows()
      .map((record) => this.windowHandle(record));
  }

  /** VFIO_IOMMU_SPAPR_TCE_CREATE: a dynamic window beside the default one (v2). */
  createWindow(options: WindowOptions): Window {
    this.assertUsable();
    this.requireType('v2', 'dynamic DMA windows');
    const opts = toOptions<WindowOptions>('options', options);
    const pageSize = toSize('options.pageSize', opts.pageSize, { min: 1n });
    const size = toSize('options.size', opts.size, { min: 1n });
    const levels = toIndex('options.levels', orDefault(opts.levels, 1), 64);
    const ddw = this.info().ddw;
    if (ddw === null) {
      throw new NoDynamicWindowsError(
        'this host has no dynamic DMA windows (no DDW flag in the SPAPR TCE info: a pre-IODA2 ' +
          'PHB); map within the default 32-bit window',
      );
    }
    if (!ddw.pageSizes.includes(pageSize)) {
      throw new PageSizeError(
        `IOMMU page size ${pageSize} is not offered; this host offers ${ddw.pageSizes.join(', ')}`,
      );
    }
    if (!isPowerOfTwo(size) || size < pageSize) {
      throw new ArgumentRangeError(
        `window size ${size} must be a power of two of at least one ${pageSize}-byte page`,
      );
    }
    if (levels < 1 || levels > ddw.levels) {
      throw new ArgumentRangeError(`levels must be in [1, ${ddw.levels}], got ${levels}`);
    }
    const ledger = this.requireType();
    if (ledger.windows().length >= ddw.maxWindows) {
      throw new WindowLimitError(
        `the host allows ${ddw.maxWindows} DMA windows and ${ledger.windows().length} exist: ` +
          'remove one first (the kernel would say ENOSPC)',
      );
    }
    const pageShift = log2(pageSize);
    const tableBytes = tceTableBytes(pageShift, size, levels, this.systemPageSize);
    this.assertTceLevelsAllocatable(pageShift, size, levels, ddw.levels, tableBytes);
    const defaultBytes = this.pendingDefaultWindowBytes();
    this.assertMemlock(defaultBytes + tableBytes, 'creating the DMA window');
    const lockedBefore = this.binding.vmLockedBytes();
    const start = callNative(
      `creating a ${hex(size)}-byte window of ${pageSize}-byte pages`,
      () => this.binding.spaprTceCreate(this.fd, pageShift, size, levels),
      (native) => {
        if (native.code !== 'ENOMEM') return undefined;
        // The kernel creates a pending default window first, then charges the new table
        // and allocates it; a failed allocation keeps the charge (see TceTableAllocationError).
        const rise = this.binding.vmLockedBytes() - lockedBefore;
        const stranded = rise >= tableBytes ? tableBytes : 0n;
        if (defaultBytes > 0n && rise - stranded >= defaultBytes) this.defaultWindowPending = false;
        if (stranded === 0n) return undefined;
        return new TceTableAllocationError(
          `creating a ${hex(size)}-byte window of ${pageSize}-byte pages: the kernel could not ` +
            `allocate its TCE table (ENOMEM) and left ${stranded} bytes charged to locked memory ` +
            'until this process exits (a kernel bug); try more levels, or again when memory is ' +
            'less fragmented',
          stranded,
        );
      },
    );
    this.defaultWindowPending = false;
    return this.windowHandle(ledger.commitWindow(start, size, pageSize, levels, false));
  }

  /**
   * Refuses a table level larger than the kernel's page allocator can give in one block:
   * the kernel would charge the whole table to locked memory, fail the allocation with
   * ENOMEM and never give the charge back (measured on 6.12: 64 MiB per attempt).
   */
  private assertTceLevelsAllocatable(
    pageShift: number,
    size: bigint,
    levels: number,
    maxLevels: number,
    tableBytes: bigint,
  ): void {
    if (this.largestBlock === undefined) {
      this.largestBlock = largestContiguousBlock(this.binding, this.systemPageSize);
    }
    const largest = this.largestBlock;
    const levelBytes = (n: number) => tceLevelBytes(pageShift, size, n, this.systemPageSize);
    if (largest === null || levelBytes(levels) <= largest) return;
    let enough = levels + 1;
    while (enough <= maxLevels && levelBytes(enough) > largest) enough += 1;
    throw new TceTableAllocationError(
      `a ${hex(size)}-byte window of ${1n << BigInt(pageShift)}-byte pages in ${levels} ` +
        `level(s) needs ${levelBytes(levels)}-byte TCE table levels, and the kernel allocates at ` +
        `most ${largest} bytes in one block: it would fail with ENOMEM and leave ${tableBytes} ` +
        'bytes charged to locked memory until the process exits; ' +
        (enough <= maxLevels
          ? `use levels: ${enough} or more`
          : `no level count up to ${maxLevels} fits: use a smaller window or larger IOMMU pages`),
    );
  }

  /** VFIO_IOMMU_SPAPR_TCE_REMOVE. Refused while the window has mappings. */
  removeWindow(window: Window): void {
    this.assertUsable();
    this.requireType('v2', 'removing DMA windows');
    const record = this.ownWindow(window);
    const ledger = this.requireType();
    ledger.checkRemoveWindow(record);
    callNative(`removing the window at ${hex(record.start)}`, () =>
      this.binding.spaprTceRemove(this.fd, record.start),
    );
    if (record.isDefault) this.defaultWindowPending = false;
    ledger.commitRemoveWindow(record);
    this.windowHandles.delete(record);
  }

  /** v1: VFIO_IOMMU_ENABLE, which charges the whole 32-bit window to locked memory. */
  enable(): void {
    this.assertUsable();
    this.requireType('v1', 'VFIO_IOMMU_ENABLE');
    if (this.v1Enabled) return;
    const cost = v1EnableBytes(this.info().dma32.size, this.systemPageSize);
    this.assertMemlock(cost, 'enabling the v1 IOMMU (it locks the whole DMA window)');
    callNative('VFIO_IOMMU_ENABLE', () => this.binding.iommuEnable(this.fd));
    this.v1Enabled = true;
  }

  /** v1: VFIO_IOMMU_DISABLE. */
  disable(): void {
    this.assertUsable();
    this.requireType('v1', 'VFIO_IOMMU_DISABLE');
    if (!this.v1Enabled) return;
    callNative('VFIO_IOMMU_DISABLE', () => this.binding.iommuDisable(this.fd));
    this.v1Enabled = false;
  }

  get enabled(): boolean {
    return this.type === 'v2' || this.v1Enabled;
  }

  /** Registers (pins) a library-owned buffer, or part of it. v2 only. */
  register(buffer: DmaBuffer, options?: RegisterOptions): Region {
    return this.registerNow(this.registrationRequest(buffer, options));
  }

  /** register() on the libuv pool: pinning gigabytes takes seconds. */
  async registerAsync(buffer: DmaBuffer, options?: RegisterOptions): Promise<Region> {
    return this.registerInBackground(this.registrationRequest(buffer, options));
  }

  /**
   * Registers memory the caller owns (a VMM's guest RAM). The library cannot keep it alive:
   * the caller must keep it mapped until it is unregistered.
   */
  registerCallerOwnedMemory(
    address: bigint,
    size: bigint | number,
    options?: CallerOwnedMemoryOptions,
  ): Region {
    return this.registerNow(this.callerOwnedRequest(address, size, options));
  }

  async registerCallerOwnedMemoryAsync(
    address: bigint,
    size: bigint | number,
    options?: CallerOwnedMemoryOptions,
  ): Promise<Region> {
    return this.registerInBackground(this.callerOwnedRequest(address, size, options));
  }

  /** VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY of exactly a registered region with no live mappings. */
  unregister(region: Region): void {
    this.assertUsable();
    this.requireType('v2', 'memory unregistration');
    const record = this.ownRegion(region);
    if (this.pendingRegistration.has(record)) {
      throw new OperationPendingError('the registration of this region is still in progress');
    }
    this.requireType().checkUnregister(record.address, record.size);
    this.releaseBlocks(this.kernelBlocks.get(record) ?? [record]);
    this.forgetRegion(record);
  }

  /** The registered region of exactly [address, address+size), to unregister by range. */
  regionAt(address: bigint, size: bigint | number): Region {
    this.assertUsable();
    const record = this.books().regionExactly(toAddress('address', address), toSize('size', size));
    return record.handle as Region;
  }

  regions(): Region[] {
    return this.books()
      .regions()
      .filter((r) => !this.pendingRegistration.has(r))
      .map((r) => r.handle as Region);
  }

  /**
   * Maps a buffer or registered region (or part of it) at `iova`. v2: the memory must be
   * registered; v1: the container must be enabled.
   */
  map(source: DmaBuffer | Region, iova: bigint, options?: MapOptions): Mapping {
    this.assertUsable();
    const ledger = this.requireType();
    const { plan, flags } = this.planMap(ledger, source, iova, options);
    this.assertMemlock(this.pendingDefaultWindowBytes(), 'creating the default DMA window');
    const { address, iova: at, size } = plan.request;
    callNative(
      () => `mapping ${hex(size)} bytes at IOVA ${hex(at)}`,
      () => this.binding.mapDma(this.fd, address, at, size, flags),
    );
    this.defaultWindowPending = false;
    return this.recordMapping(ledger.commitMap(plan));
  }

  /**
   * Maps many ranges in one native call: all or nothing. Every entry is checked as map()
   * checks it, and against the entries before it, before the kernel is asked; should the
   * kernel refuse one, the ranges already mapped are unmapped and nothing is recorded.
   * Returns the mappings in the order of the entries.
   */
  mapMany(entries: readonly MapManyEntry[]): Mapping[] {
    this.assertUsable();
    const ledger = this.requireType();
    if (!Array.isArray(entries)) {
      throw new InvalidArgumentError('mapMany() takes an array of { source, iova, ...options }');
    }
    if (entries.length === 0) return [];
    if (entries.length > MAX_BATCH) {
      throw new ArgumentRangeError(
        `mapMany() takes at most ${MAX_BATCH} entries per call, got ${entries.length}`,
      );
    }
    const records: MappingRecord[] = [];
    const ranges = new BigUint64Array(entries.length * 4);
    try {
      for (let i = 0; i < entries.length; i += 1) {
        const e = toOptions<MapManyEntry>(`entries[${i}]`, entries[i]);
        const source = e.source as DmaBuffer | Region;
        const { plan, flags } = this.planMap(ledger, source, e.iova as bigint, e);
        // Booked at once, so the next entries are checked against this one too.
        records.push(ledger.commitMap(plan));
        ranges[i * 4] = plan.request.address;
        ranges[i * 4 + 1] = plan.request.iova;
        ranges[i * 4 + 2] = plan.request.size;
        ranges[i * 4 + 3] = BigInt(flags);
      }
      this.assertMemlock(this.pendingDefaultWindowBytes(), 'creating the default DMA window');
    } catch (error) {
      for (const record of records.reverse()) ledger.commitUnmap(record);
      throw error;
    }
    try {
      this.binding.mapDmaBatch(this.fd, ranges);
    } catch (error) {
      const failed = (error as NativeError).index ?? 0;
      // Undo the kernel's part in reverse; a range that would not unmap stays in the books
      // (and in mappings()) as the live mapping it still is.
      for (let i = records.length - 1; i >= 0; i -= 1) {
        const record = records[i];
        try {
          if (i < failed) this.binding.unmapDma(this.fd, record.iova, record.size);
          ledger.commitUnmap(record);
        } catch {
          this.recordMapping(record);
        }
      }
      const r = records[failed];
      const what = r ? `: ${hex(r.size)} bytes at IOVA ${hex(r.iova)}` : '';
      return callNative(`mapping entries[${failed}] of ${records.length}${what}`, () => {
        throw error;
      });
    }
    this.defaultWindowPending = false;
    return records.map((record) => this.recordMapping(record));
  }

  unmap(mapping: Mapping): void {
    this.assertUsable();
    const record = this.ownMapping(mapping);
    callNative(
      () => `unmapping ${hex(record.size)} bytes at IOVA ${hex(record.iova)}`,
      () => this.binding.unmapDma(this.fd, record.iova, record.size),
    );
    this.requireType().commitUnmap(record);
    this.releaseMappingHandle(record);
  }

  /** The live mapping of exactly [iova, iova+size), to unmap by range. */
  mappingAt(iova: bigint, size: bigint | number): Mapping {
    this.assertUsable();
    const record = this.books().mappingExactly(toAddress('iova', iova), toSize('size', size));
    return record.handle as Mapping;
  }

  mappings(): Mapping[] {
    return this.books()
      .mappings()
      .map((r) => r.handle as Mapping);
  }

  /** What is at this bus address: window, mapping, offset, virtual address, region. */
  translate(iova: bigint): TranslationInfo | null {
    this.assertUsable();
    const t = this.books().translate(toAddress('iova', iova));
    if (!t) return null;
    return {
      iova: t.iova,
      window: this.windowHandle(t.window),
      mapping: t.mapping.handle as Mapping,
      offset: t.offset,
      address: t.address,
      region: t.region ? (t.region.handle as Region) : null,
    };
  }

  /** Locked-memory status now, and what a plan would need on top. */
  memlock(plan: PlannedCost[] = []): MemlockReport {
    return memlockReport(this.memlockStatus(), plan);
  }

  /** The locked-memory cost of creating a window of this geometry on this host. */
  windowCost(pageSize: bigint | number, size: bigint | number, levels = 1): bigint {
    const page = toSize('pageSize', pageSize, { min: 1n });
    const bytes = toSize('size', size, { min: 1n });
    if (!isPowerOfTwo(page) || !isPowerOfTwo(bytes)) {
      throw new ArgumentRangeError('page size and window size must be powers of two');
    }
    return tceTableBytes(log2(page), bytes, toIndex('levels', levels, 5), this.systemPageSize);
  }

  /** Closes devices, groups and the container; the kernel unpins and frees everything. */
  close(): void {
    if (this.pendingRegistration.size > 0 && !this.closed) {
      throw new OperationPendingError(
        `${this.pendingRegistration.size} async registration(s) in flight: await them before close()`,
      );
    }
    if (!this.markClosed()) return;
    for (const group of this.groupList.splice(0)) group.close();
    this.releaseBooks();
    callNative('closing the container', () => this.binding.closeFd(this.fd));
  }

  /** Forgets every mapping, region and window, releasing the buffers they held. */
  private releaseBooks(): void {
    for (const record of this.ledger?.mappings() ?? []) this.releaseMappingHandle(record);
    for (const record of this.ledger?.regions() ?? []) this.releaseRegionHandle(record);
    this.kernelBlocks.clear();
    this.windowHandles.clear();
    this.ledger = null;
  }

  /** @internal Group.close() asks first: an async registration needs the container's IOMMU. */
  assertGroupClosable(group: Group): void {
    if (this.pendingRegistration.size > 0 && this.groupList.length === 1 && !this.closed) {
      throw new OperationPendingError(
        `${this.pendingRegistration.size} async registration(s) in flight: await them before ` +
          `closing group ${group.number}, the container's last group`,
      );
    }
  }

  /**
   * @internal A group's fd was closed, so the kernel detached it. With the last group gone the
   * kernel releases the container's IOMMU: it unmaps, unregisters and frees every window, and
   * returns their locked memory. The books follow, so buffers can be freed and no call is
   * made against state the kernel no longer has; addGroup() and setIommu() start over.
   */
  groupClosed(group: Group): void {
    const index = this.groupList.indexOf(group);
    if (index >= 0) this.groupList.splice(index, 1);
    if (this.type === null || this.closed) return;
    if (this.groupList.length > 0) {
      this.reinstallMappings(group);
      return;
    }
    this.releaseBooks();
    this.type = null;
    this.cachedInfo = null;
    this.v1Enabled = false;
    this.defaultWindowPending = false;
    this.releasedBecause =
      ` (the container lost its last group, ${group.number}, and the kernel released its IOMMU:` +
      ' every registration, mapping and window is gone)';
  }

  /**
   * Measured on 6.12 (test/vm/faults.test.ts): when one group of a v2 container is detached,
   * the live mappings stop translating for the groups that remain (their devices' DMA no longer
   * reaches the memory), while the kernel still counts them as mapped. MAP_DMA over the same
   * range (which the kernel treats as a replacement) makes them translate again.
   */
  private reinstallMappings(group: Group): void {
    const c = this.binding.constants;
    for (const record of this.requireType().mappings()) {
      const flags =
        (record.readable ? c.VFIO_DMA_MAP_FLAG_READ : 0) |
        (record.writable ? c.VFIO_DMA_MAP_FLAG_WRITE : 0);
      callNative(
        `re-installing the mapping at IOVA ${hex(record.iova)} after group ${group.number} left`,
        () => this.binding.mapDma(this.fd, record.address, record.iova, record.size, flags),
      );
    }
  }

  // --- internals -------------------------------------------------------------------------

  private memlockStatus(): MemlockStatus {
    const status = readMemlockStatus(this.binding);
    return { ...status, locked: status.locked + this.pendingLockBytes };
  }

  private assertMemlock(bytes: bigint, operation: string | (() => string)): void {
    if (bytes === 0n) return;
    // With CAP_IPC_LOCK (root) the kernel charges but never refuses: no need to read VmLck,
    // a /proc read on every registration.
    if (this.binding.hasCapIpcLock()) return;
    assertFits(this.memlockStatus(), bytes, operation);
  }

  private pendingDefaultWindowBytes(): bigint {
    if (!this.defaultWindowPending) return 0n;
    return tceTableBytes(12, this.info().dma32.size, 1, this.systemPageSize);
  }

  /** The ledger, after the open-and-same-process check. */
  private books(): Ledger {
    this.assertUsable();
    return this.requireType();
  }

  private requireType(type?: IommuType, what?: string): Ledger {
    if (this.type === null || this.ledger === null) {
      throw new IommuTypeError(
        'choose the IOMMU type first: addGroup(), then setIommu()' + (this.releasedBecause ?? ''),
      );
    }
    if (type !== undefined && this.type !== type) {
      throw new IommuTypeError(
        `${what} needs a ${type} container; this one is ${this.type}` +
          (type === 'v2' ? ' (v1 pins memory at map time and has no registration or windows)' : ''),
      );
    }
    return this.ledger;
  }

  private classifyAttachFailure(native: NativeError, group: Group): Error | undefined {
    if (native.code === 'EBUSY' && this.groupList.length > 0) {
      return new GroupLimitError(
        `group ${group.number} cannot join a container that already has group ` +
          `${this.groupList[0].number}: this host allows one IOMMU group per container ` +
          '(pre-IODA2); open one container per group',
      );
    }
    return undefined;
  }

  private registrationRequest(buffer: DmaBuffer, options?: RegisterOptions) {
    this.assertUsable();
    this.requireType('v2', 'memory registration');
    if (!(buffer instanceof DmaBuffer)) {
      throw new InvalidArgumentError(
        'register() takes a DmaBuffer; for memory you own use registerCallerOwnedMemory()',
      );
    }
    buffer.buffer; // throws ClosedError when freed
    const opts = toOptions<RegisterOptions>('options', options);
    const { address, size } = subRange(buffer.address, buffer.bigSize, opts);
    return this.checkedRegistration(address, size, buffer.backingPageSize, buffer);
  }

  private callerOwnedRequest(
    address: bigint,
    size: bigint | number,
    options?: CallerOwnedMemoryOptions,
  ) {
    this.assertUsable();
    this.requireType('v2', 'memory registration');
    const at = toAddress('address', address);
    const bytes = toSize('size', size, { min: 1n });
    const opts = toOptions<CallerOwnedMemoryOptions>('options', options);
    const backing = toSize(
      'options.backingPageSize',
      orDefault(opts.backingPageSize, this.systemPageSize),
    );
    if (!isPowerOfTwo(backing) || backing < this.systemPageSize) {
      throw new ArgumentRangeError(
        `options.backingPageSize must be a power of two of at least ${this.systemPageSize}`,
      );
    }
    return this.checkedRegistration(at, bytes, backing, null);
  }

  private checkedRegistration(
    address: bigint,
    size: bigint,
    backingPageSize: bigint,
    buffer: DmaBuffer | null,
  ) {
    const { first, limit } = this.requireType().checkRegister(address, size);
    if (backingPageSize > this.systemPageSize && this.systemPageSize < 65536n) {
      throw new HugetlbRegistrationError(
        `registering memory backed by ${backingPageSize}-byte huge pages on a ` +
          `${this.systemPageSize}-byte-page kernel would hang the caller in the kernel (the pin ` +
          'retries hugetlb_fault forever on 4K-page ppc64 kernels): use the 64K-page kernel for ' +
          'huge pages, or ordinary memory',
      );
    }
    // checkRegister refused sizes that are not whole system pages: the charge is size itself
    // (registrationBytes, with its bigint arithmetic, costs microseconds under emulation).
    this.assertMemlock(size, () => `registering ${hex(size)} bytes at ${hex(address)}`);
    return { address, size, first, limit, backingPageSize, buffer };
  }

  private recordRegion(request: RegistrationRequest): Region {
    const { backingPageSize, buffer } = request;
    const record = this.requireType().commitRegister(request, backingPageSize, buffer);
    const region = new Region(this, record, buffer);
    record.handle = region;
    buffer?.hold();
    return region;
  }

  /** One VFIO_IOMMU_SPAPR_REGISTER_MEMORY of a checked request, then its books. */
  private registerNow(request: RegistrationRequest): Region {
    callNative(
      () => `registering ${hex(request.size)} bytes at ${hex(request.address)}`,
      () => this.binding.registerMemory(this.fd, request.address, request.size),
      (native) => classifyRegistrationFailure(native, request.address, request.size),
    );
    return this.recordRegion(request);
  }

  private async registerInBackground(request: RegistrationRequest): Promise<Region> {
    // The range is booked before the ioctls run, so nothing can claim it meanwhile.
    const region = this.recordRegion(request);
    const record = region.record;
    this.pendingRegistration.add(record);
    this.pendingLockBytes += request.size;
    // In blocks: the kernel holds the mmap lock while it pins a block, which stalls every
    // thread of the process that faults or maps; between blocks the event loop runs.
    const blocks = splitRange(
      request.address,
      request.size,
      blockSizeFor(request.backingPageSize, request.size),
    );
    const done: KernelBlock[] = [];
    this.kernelBlocks.set(record, done);
    try {
      for (const block of blocks) {
        await callNativeAsync(
          `registering ${hex(block.size)} bytes at ${hex(block.address)} (of ${hex(request.size)} at ${hex(request.address)})`,
          () => this.binding.registerMemoryAsync(this.fd, block.address, block.size),
          (native) => classifyRegistrationFailure(native, block.address, block.size),
        );
        done.push(block);
        this.pendingLockBytes -= block.size;
      }
    } catch (error) {
      this.pendingLockBytes -= request.size - done.reduce((sum, b) => sum + b.size, 0n);
      this.releaseBlocks(done);
      this.pendingRegistration.delete(record);
      this.forgetRegion(record);
      throw error;
    }
    this.pendingRegistration.delete(record);
    return region;
  }

  /** Unregisters the kernel blocks of a region (one for register(), several for the async form). */
  private releaseBlocks(blocks: readonly KernelBlock[]): void {
    for (const block of blocks) {
      callNative(
        () => `unregistering ${hex(block.size)} bytes at ${hex(block.address)}`,
        () => this.binding.unregisterMemory(this.fd, block.address, block.size),
      );
    }
  }

  private forgetRegion(record: RegionRecord): void {
    this.ledger?.commitUnregister(record);
    this.kernelBlocks.delete(record);
    this.releaseRegionHandle(record);
  }

  /** The region's handle stops being live and lets go of its buffer. */
  private releaseRegionHandle(record: RegionRecord): void {
    const region = record.handle as Region | null;
    record.handle = null;
    region?.buffer?.release();
  }

  /** The mapping's handle stops being live and lets go of its buffer. */
  private releaseMappingHandle(record: MappingRecord): void {
    record.handle = null;
    if (record.owner instanceof DmaBuffer) record.owner.release();
  }

  /** Every check map() makes before the kernel is asked; the plan commitMap records. */
  private planMap(
    ledger: Ledger,
    source: DmaBuffer | Region,
    iova: bigint,
    options: MapOptions | undefined,
  ): { plan: MapPlan; flags: number } {
    const at = toAddress('iova', iova);
    const opts = toOptions<MapOptions>('options', options);
    const { address, size, owner } = this.mapSource(source, opts);
    const read = orDefault(opts.read, true);
    const write = orDefault(opts.write, true);
    if (typeof read !== 'boolean' || typeof write !== 'boolean') {
      throw new InvalidArgumentError('options.read and options.write must be booleans');
    }
    if (!read && !write) {
      throw new ArgumentRangeError('a mapping must let the device read, write or both');
    }
    if (this.type === 'v1' && !this.v1Enabled) {
      throw new NotEnabledError('enable() the v1 container before mapping (the kernel says EPERM)');
    }
    const plan = ledger.checkMap({
      address,
      iova: at,
      size,
      readable: read,
      writable: write,
      owner,
    });
    // Most maps come with no registration in flight: skip the lookups (costly under emulation).
    for (const region of this.pendingRegistration.size > 0 ? plan.regions : []) {
      if (this.pendingRegistration.has(region)) {
        throw new NotRegisteredError(
          `region ${hex(region.address)} is still being registered: await registerAsync first`,
        );
      }
    }
    const c = this.binding.constants;
    const flags = (read ? c.VFIO_DMA_MAP_FLAG_READ : 0) | (write ? c.VFIO_DMA_MAP_FLAG_WRITE : 0);
    return { plan, flags };
  }

  /** The handle of a mapping the kernel made and the books hold. */
  private recordMapping(record: MappingRecord): Mapping {
    const mapping = new Mapping(this, record, this.windowHandle(record.window));
    record.handle = mapping;
    if (record.owner instanceof DmaBuffer) record.owner.hold();
    return mapping;
  }

  private mapSource(source: DmaBuffer | Region, opts: MapOptions) {
    // No object spread here: V8 copies objects holding bigints slowly (~1 µs per map).
    if (source instanceof DmaBuffer) {
      source.buffer; // throws ClosedError when freed
      const { address, size } = subRange(source.address, source.bigSize, opts);
      return { address, size, owner: source };
    }
    if (source instanceof Region) {
      const record = this.ownRegion(source);
      const { address, size } = subRange(record.address, record.size, opts);
      return { address, size, owner: source.buffer };
    }
    throw new InvalidArgumentError('map() takes a DmaBuffer or a Region');
  }

  private windowHandle(record: WindowRecord): Window {
    let window = this.windowHandles.get(record);
    if (!window) {
      window = new Window(this, record);
      this.windowHandles.set(record, window);
    }
    return window;
  }

  private ownWindow(window: Window): WindowRecord {
    if (!(window instanceof Window) || this.windowHandles.get(window.record) !== window) {
      throw new InvalidArgumentError(
        'the window does not belong to this container (or is removed)',
      );
    }
    return window.record;
  }

  private ownRegion(region: Region): RegionRecord {
    if (
      !(region instanceof Region) ||
      region.container !== this ||
      region.record.handle !== region
    ) {
      throw new NotRegisteredError('the region is not registered in this container');
    }
    return region.record;
  }

  private ownMapping(mapping: Mapping): MappingRecord {
    if (
      !(mapping instanceof Mapping) ||
      mapping.container !== this ||
      mapping.record.handle !== mapping
    ) {
      throw new InvalidArgumentError('the mapping is not live in this container');
    }
    return mapping.record;
  }
}

/**
 * EINVAL for a registration the container's books allowed (aligned, no overlap in this
 * container). The kernel keeps one list of registrations per process, not per container: it
 * shares a range registered again with exactly the same address and size, and refuses one
 * that overlaps it otherwise (measured on 6.12, two containers in one process: EINVAL, and
 * no locked memory charged). Another container of this process registered that memory,
 * perhaps on another thread, or in blocks by an async registration.
 */
function classifyRegistrationFailure(
  native: NativeError,
  address: bigint,
  size: bigint,
): Error | undefined {
  if (native.code !== 'EINVAL') return undefined;
  return new RegionOverlapError(
    `[${hex(address)}, ${hex(address + size)}) overlaps memory that another container of this ` +
      'process registered with a different address or size: the kernel keeps one list of ' +
      'registrations per process and shares only identical ranges (it says EINVAL); register ' +
      'exactly the same range in both containers, or memory that does not overlap',
  );
}

/** [offset, offset+size) of a block, checked to lie inside it. */
function subRange(
  base: bigint,
  length: bigint,
  opts: { offset?: bigint | number; size?: bigint | number },
): { address: bigint; size: bigint } {
  // The whole block, the common case, needs no arithmetic (microseconds under emulation).
  if (opts.offset === undefined && opts.size === undefined) return { address: base, size: length };
  const offset = opts.offset === undefined ? 0n : toSize('options.offset', opts.offset);
  if (offset >= length) {
    throw new ArgumentRangeError(`options.offset ${offset} is not inside the ${length}-byte block`);
  }
  const size = toSize('options.size', opts.size === undefined ? length - offset : opts.size, {
    min: 1n,
  });
  // Whole blocks (offset 0) skip the sums: each costs microseconds under emulation.
  if (offset === 0n ? size > length : offset + size > length) {
    throw new ArgumentRangeError(
      `options.offset + options.size (${offset + size}) runs past the ${length}-byte block`,
    );
  }
  return { address: offset === 0n ? base : base + offset, size };
}

installDispose(Container, 'close');
