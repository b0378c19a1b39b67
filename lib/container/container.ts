// The VFIO container with the SPAPR TCE IOMMU: the public object. It owns the container fd and
// its groups and chooses the IOMMU type; windows, registrations and mappings are kept by the
// parts in this folder, each checked against the books and the locked-memory prediction
// before the kernel is asked.
import { nativeBinding, type NativeBinding } from '../binding';
import { installDispose } from '../dispose';
import type { DmaBuffer } from '../dma-buffer';
import { Eeh } from '../eeh';
import {
  GroupNotViableError,
  InvalidArgumentError,
  IommuTypeError,
  MappingNotFoundError,
  OperationPendingError,
  callNative,
} from '../errors';
import { Group } from '../group';
import { Handle } from '../handle';
import { Mapping } from '../mapping';
import { memlockReport, windowCost, type MemlockReport, type PlannedCost } from '../memlock';
import type { Region } from '../region';
import { toAddress, toOneOf, toOptions, toSize } from '../validate';
import type { Window } from '../window';
import { classifyAttachFailure, openContainerFd } from './container-fd';
import { Iommu } from './iommu';
import { reinstallMappingsAfterDetach } from './kernel-quirks';
import { LockedMemory } from './locked-memory';
import type { Registrations } from './registrations';
import type {
  AsyncRegisterOptions,
  CallerOwnedMemoryOptions,
  ContainerInfo,
  ContainerOptions,
  IommuType,
  MapManyEntry,
  MapOptions,
  RegisterOptions,
  TranslationInfo,
  WindowOptions,
} from './types';
import type { V1Switch } from './v1';

export class Container extends Handle {
  /** @internal */ readonly fd: number;
  readonly apiVersion: number;
  readonly eeh: Eeh;
  private readonly groupList: Group[] = [];
  private readonly systemPageSize: bigint;
  private readonly lockedMemory: LockedMemory;
  /** Set by setIommu(); null before, and after the kernel released the IOMMU. */
  private iommu: Iommu | null = null;
  /** The group whose departure made the kernel release the IOMMU (the books emptied without close()). */
  private releasedByGroup: number | null = null;
  /** Told when the IOMMU's state goes (close, or the last group leaving). */
  private readonly releaseListeners: (() => void)[] = [];

  private constructor(binding: NativeBinding) {
    super(binding, 'VFIO container');
    ({ fd: this.fd, apiVersion: this.apiVersion } = openContainerFd(binding));
    this.systemPageSize = BigInt(binding.pageSize());
    this.lockedMemory = new LockedMemory(binding);
    this.eeh = new Eeh(binding, () => {
      this.assertUsable();
      return this.fd;
    });
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

  // --- groups and the IOMMU type ---------------------------------------------------------

  /** Attaches a group (opened here when given its number). It must be viable. */
  addGroup(group: number | Group): Group {
    this.assertUsable();
    const g = typeof group === 'number' ? Group.open(group, { binding: this.binding }) : group;
    if (!(g instanceof Group)) throw new InvalidArgumentError('group must be a number or a Group');
    g.assertOpen();
    if (this.groupList.includes(g)) return g;
    try {
      if (!g.status().viable) {
        throw new GroupNotViableError({ group: g.number });
      }
      callNative(
        `attaching group ${g.number} to the container`,
        () => this.binding.groupSetContainer(g.fd, this.fd),
        (native) => classifyAttachFailure(native, g.number, this.groupList[0]?.number),
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
    if (this.iommu !== null) {
      throw new IommuTypeError({ reason: 'already-set', current: this.iommu.type });
    }
    if (this.groupList.length === 0) throw new IommuTypeError({ reason: 'no-group' });
    const c = this.binding.constants;
    const code = t === 'v2' ? c.VFIO_SPAPR_TCE_v2_IOMMU : c.VFIO_SPAPR_TCE_IOMMU;
    callNative(`setting the SPAPR TCE ${t} IOMMU`, () => this.binding.setIommu(this.fd, code));
    this.releasedByGroup = null;
    this.iommu = new Iommu(t, this, this.binding, this.fd, this.systemPageSize, this.lockedMemory);
  }

  get iommuType(): IommuType | null {
    return this.iommu?.type ?? null;
  }

  info(): ContainerInfo {
    return this.books().info;
  }

  // --- windows ---------------------------------------------------------------------------

  windows(): Window[] {
    return this.books().windows.list();
  }

  /** VFIO_IOMMU_SPAPR_TCE_CREATE: a dynamic window beside the default one (v2). */
  createWindow(options: WindowOptions): Window {
    return this.v2('dynamic DMA windows').windows.create(options);
  }

  /** VFIO_IOMMU_SPAPR_TCE_REMOVE. Refused while the window has mappings. */
  removeWindow(window: Window): void {
    this.v2('removing DMA windows').windows.remove(window);
  }

  // --- v1 --------------------------------------------------------------------------------

  /** v1: VFIO_IOMMU_ENABLE, which charges the whole 32-bit window to locked memory. */
  enable(): void {
    this.v1('VFIO_IOMMU_ENABLE').enable();
  }

  /** v1: VFIO_IOMMU_DISABLE. */
  disable(): void {
    this.v1('VFIO_IOMMU_DISABLE').disable();
  }

  get enabled(): boolean {
    return this.iommu?.type === 'v2' || (this.iommu?.v1?.enabled() ?? false);
  }

  // --- registrations (v2) ----------------------------------------------------------------

  /** Registers (pins) a library-owned buffer, or part of it. v2 only. */
  register(buffer: DmaBuffer, options?: RegisterOptions): Region {
    const registrations = this.registrations();
    return registrations.registerNow(registrations.bufferRequest(buffer, options));
  }

  /**
   * register() on the libuv pool, in blocks: pinning gigabytes takes seconds. Reports progress
   * and stops at options.signal, leaving nothing pinned.
   */
  async registerAsync(
    buffer: DmaBuffer,
    options?: RegisterOptions & AsyncRegisterOptions,
  ): Promise<Region> {
    const registrations = this.registrations();
    return registrations.registerInBackground(
      registrations.bufferRequest(buffer, options),
      options,
    );
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
    const registrations = this.registrations();
    return registrations.registerNow(registrations.callerOwnedRequest(address, size, options));
  }

  async registerCallerOwnedMemoryAsync(
    address: bigint,
    size: bigint | number,
    options?: CallerOwnedMemoryOptions & AsyncRegisterOptions,
  ): Promise<Region> {
    const registrations = this.registrations();
    return registrations.registerInBackground(
      registrations.callerOwnedRequest(address, size, options),
      options,
    );
  }

  /** VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY of exactly a registered region with no live mappings. */
  unregister(region: Region): void {
    this.v2('memory unregistration').registrations.unregister(region);
  }

  /** The registered region of exactly [address, address+size), to unregister by range. */
  regionAt(address: bigint, size: bigint | number): Region {
    const record = this.books().ledger.regionExactly(
      toAddress('address', address),
      toSize('size', size),
    );
    return record.handle as Region;
  }

  regions(): Region[] {
    return this.books().registrations?.list() ?? [];
  }

  // --- mappings --------------------------------------------------------------------------

  /**
   * Maps a buffer or registered region (or part of it) at `iova`. v2: the memory must be
   * registered; v1: the container must be enabled.
   */
  map(source: DmaBuffer | Region, iova: bigint, options?: MapOptions): Mapping {
    return this.books().mappings.map(source, iova, options);
  }

  /**
   * Maps many ranges in one native call: all or nothing. Every entry is checked as map()
   * checks it, and against the entries before it, before the kernel is asked; should the
   * kernel refuse one, the ranges already mapped are unmapped and nothing is recorded.
   * Returns the mappings in the order of the entries.
   */
  mapMany(entries: readonly MapManyEntry[]): Mapping[] {
    return this.books().mappings.mapMany(entries);
  }

  unmap(mapping: Mapping): void {
    this.assertUsable();
    if (this.iommu === null) {
      const { iova, size } = mapping instanceof Mapping ? mapping : { iova: 0n, size: 0n };
      throw new MappingNotFoundError({ iova, size, staleHandle: true });
    }
    this.iommu.mappings.unmap(mapping);
  }

  /** The live mapping of exactly [iova, iova+size), to unmap by range. */
  mappingAt(iova: bigint, size: bigint | number): Mapping {
    return this.books().mappings.at(iova, size);
  }

  mappings(): Mapping[] {
    return this.books().mappings.list();
  }

  /** What is at this bus address: window, mapping, offset, virtual address, region. */
  translate(iova: bigint): TranslationInfo | null {
    return this.books().mappings.translate(iova);
  }

  // --- locked memory ---------------------------------------------------------------------

  /** Locked-memory status now, and what a plan would need on top. */
  memlock(plan: PlannedCost[] = []): MemlockReport {
    return memlockReport(this.lockedMemory.status(), plan);
  }

  /** The locked-memory cost of creating a window of this geometry on this host. */
  windowCost(pageSize: bigint | number, size: bigint | number, levels = 1): bigint {
    return windowCost(pageSize, size, levels, this.systemPageSize);
  }

  // --- closing ---------------------------------------------------------------------------

  /** Closes devices, groups and the container; the kernel unpins and frees everything. */
  close(): void {
    const pending = this.iommu?.pendingRegistrations ?? 0;
    if (pending > 0 && !this.closed) {
      throw new OperationPendingError({ operation: 'close()', pending });
    }
    if (!this.markClosed()) return;
    for (const group of this.groupList.splice(0)) group.close();
    this.releaseIommu();
    callNative('closing the container', () => this.binding.closeFd(this.fd));
  }

  /** @internal Group.close() asks first: an async registration needs the container's IOMMU. */
  assertGroupClosable(group: Group): void {
    const pending = this.iommu?.pendingRegistrations ?? 0;
    if (pending > 0 && this.groupList.length === 1 && !this.closed) {
      throw new OperationPendingError({
        operation: `closing group ${group.number}, the container's last group`,
        pending,
      });
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
    if (this.iommu === null || this.closed) return;
    if (this.groupList.length > 0) {
      reinstallMappingsAfterDetach(this.binding, this.fd, this.iommu.ledger, group.number);
      return;
    }
    this.releaseIommu();
    this.releasedByGroup = group.number;
  }

  // --- internals -------------------------------------------------------------------------

  private releaseIommu(): void {
    this.iommu?.release();
    this.iommu = null;
    for (const listener of this.releaseListeners.splice(0)) listener();
  }

  /** @internal `listener` runs once, when the IOMMU's state goes (the guest IOMMU's tables). */
  onIommuReleased(listener: () => void): void {
    this.releaseListeners.push(listener);
  }

  /** The IOMMU's state, after the open-and-same-process check. */
  private books(): Iommu {
    this.assertUsable();
    if (this.iommu === null) {
      throw new IommuTypeError({ reason: 'unset', releasedByGroup: this.releasedByGroup });
    }
    return this.iommu;
  }

  private v2(what: string): Iommu & { registrations: Registrations } {
    const iommu = this.books();
    if (iommu.registrations === null) {
      throw new IommuTypeError({
        reason: 'wrong-type',
        operation: what,
        required: 'v2',
        current: 'v1',
      });
    }
    return iommu as Iommu & { registrations: Registrations };
  }

  private registrations(): Registrations {
    return this.v2('memory registration').registrations;
  }

  private v1(what: string): V1Switch {
    const iommu = this.books();
    if (iommu.v1 === null) {
      throw new IommuTypeError({
        reason: 'wrong-type',
        operation: what,
        required: 'v1',
        current: 'v2',
      });
    }
    return iommu.v1;
  }
}

installDispose(Container, 'close');
