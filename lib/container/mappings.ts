// DMA mappings (VFIO_IOMMU_MAP_DMA/UNMAP_DMA): IOVA ranges of a window onto registered memory
// (v2) or any buffer (v1, once enabled). Every check the kernel skips is made here first: a
// live IOVA (the kernel would replace it), a misaligned IOVA (+1 from the kernel), a range
// past its window (only its first page is checked), memory not registered.
import type { NativeBinding, NativeError } from '../binding';
import { DmaBuffer } from '../dma-buffer';
import {
  ArgumentRangeError,
  InvalidArgumentError,
  NotEnabledError,
  MappingNotFoundError,
  RegionNotFoundError,
  callNative,
} from '../errors';
import type { Ledger, MapPlan, MappingRecord } from '../ledger';
import { Mapping } from '../mapping';
import { Region } from '../region';
import { hex, orDefault, toAddress, toOptions, toSize } from '../validate';
import type { Container } from './container';
import type { LazyDefaultWindow } from './kernel-quirks';
import type { LockedMemory } from './locked-memory';
import { subRange } from './ranges';
import type { Registrations } from './registrations';
import type { MapManyEntry, MapOptions, TranslationInfo } from './types';
import type { Windows } from './windows';

/** Most ranges one mapMany() takes: a sparse array's length is no allocation size. */
const MAX_BATCH = 1 << 20;

/** What map() needs from the IOMMU type: v2 registrations, or v1's enable switch. */
export interface MapRules {
  /** v2: the registrations whose regions must be settled; null on v1. */
  readonly registrations: Registrations | null;
  /** v1: whether VFIO_IOMMU_ENABLE has been issued (always true on v2). */
  enabled(): boolean;
}

export class Mappings {
  constructor(
    private readonly container: Container,
    private readonly binding: NativeBinding,
    private readonly fd: number,
    private readonly ledger: Ledger,
    private readonly windows: Windows,
    private readonly rules: MapRules,
    private readonly lockedMemory: LockedMemory,
    private readonly defaultWindow: LazyDefaultWindow,
  ) {}

  map(source: DmaBuffer | Region, iova: bigint, options?: MapOptions): Mapping {
    const { plan, flags } = this.plan(source, iova, options);
    this.assertDefaultWindowFits();
    const { address, iova: at, size } = plan.request;
    callNative(
      () => `mapping ${hex(size)} bytes at IOVA ${hex(at)}`,
      () => this.binding.mapDma(this.fd, address, at, size, flags),
    );
    this.defaultWindow.settled();
    return this.handle(this.ledger.commitMap(plan));
  }

  /**
   * Many ranges in one native call, all or nothing: every entry is checked as map() checks it,
   * and against the entries before it, before the kernel is asked; should the kernel refuse
   * one, the ranges already mapped are unmapped and nothing is recorded.
   */
  mapMany(entries: readonly MapManyEntry[]): Mapping[] {
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
        const { plan, flags } = this.plan(e.source as DmaBuffer | Region, e.iova as bigint, e);
        // Booked at once, so the next entries are checked against this one too.
        records.push(this.ledger.commitMap(plan));
        ranges[i * 4] = plan.request.address;
        ranges[i * 4 + 1] = plan.request.iova;
        ranges[i * 4 + 2] = plan.request.size;
        ranges[i * 4 + 3] = BigInt(flags);
      }
      this.assertDefaultWindowFits();
    } catch (error) {
      for (const record of records.reverse()) this.ledger.commitUnmap(record);
      throw error;
    }
    try {
      this.binding.mapDmaBatch(this.fd, ranges);
    } catch (error) {
      return this.undoBatch(records, error as NativeError);
    }
    this.defaultWindow.settled();
    return records.map((record) => this.handle(record));
  }

  unmap(mapping: Mapping): void {
    const record = this.own(mapping);
    callNative(
      () => `unmapping ${hex(record.size)} bytes at IOVA ${hex(record.iova)}`,
      () => this.binding.unmapDma(this.fd, record.iova, record.size),
    );
    this.ledger.commitUnmap(record);
    releaseMappingHandle(record);
  }

  /** The live mapping of exactly [iova, iova+size), to unmap by range. */
  at(iova: bigint, size: bigint | number): Mapping {
    const record = this.ledger.mappingExactly(toAddress('iova', iova), toSize('size', size));
    return record.handle as Mapping;
  }

  list(): Mapping[] {
    return this.ledger.mappings().map((r) => r.handle as Mapping);
  }

  /** What is at this bus address: window, mapping, offset, virtual address, region. */
  translate(iova: bigint): TranslationInfo | null {
    const t = this.ledger.translate(toAddress('iova', iova));
    if (!t) return null;
    return {
      iova: t.iova,
      window: this.windows.handle(t.window),
      mapping: t.mapping ? (t.mapping.handle as Mapping) : null,
      offset: t.offset,
      address: t.address,
      region: t.region ? (t.region.handle as Region) : null,
      guest: t.guest ?? null,
    };
  }

  /** Every mapping's handle stops being live: the kernel released them all. */
  releaseAll(): void {
    for (const record of this.ledger.mappings()) releaseMappingHandle(record);
  }

  /** Every check map() makes before the kernel is asked; the plan commitMap records. */
  private plan(
    source: DmaBuffer | Region,
    iova: bigint,
    options: MapOptions | undefined,
  ): { plan: MapPlan; flags: number } {
    const at = toAddress('iova', iova);
    const opts = toOptions<MapOptions>('options', options);
    const { address, size, owner } = this.source(source, opts);
    const read = orDefault(opts.read, true);
    const write = orDefault(opts.write, true);
    if (typeof read !== 'boolean' || typeof write !== 'boolean') {
      throw new InvalidArgumentError('options.read and options.write must be booleans');
    }
    if (!read && !write) {
      throw new ArgumentRangeError('a mapping must let the device read, write or both');
    }
    if (!this.rules.enabled()) {
      throw new NotEnabledError();
    }
    const plan = this.ledger.checkMap({
      address,
      iova: at,
      size,
      readable: read,
      writable: write,
      owner,
    });
    this.rules.registrations?.assertSettled(plan.regions);
    const c = this.binding.constants;
    const flags = (read ? c.VFIO_DMA_MAP_FLAG_READ : 0) | (write ? c.VFIO_DMA_MAP_FLAG_WRITE : 0);
    return { plan, flags };
  }

  private source(source: DmaBuffer | Region, opts: MapOptions) {
    if (source instanceof DmaBuffer) {
      source.buffer; // throws ClosedError when freed
      const { address, size } = subRange(source.address, source.bigSize, opts);
      return { address, size, owner: source };
    }
    if (source instanceof Region) {
      if (this.rules.registrations === null) {
        throw new RegionNotFoundError({
          address: source.address,
          size: source.size,
          staleHandle: true,
        });
      }
      const record = this.rules.registrations.own(source);
      const { address, size } = subRange(record.address, record.size, opts);
      return { address, size, owner: source.buffer };
    }
    throw new InvalidArgumentError('map() takes a DmaBuffer or a Region');
  }

  private assertDefaultWindowFits(): void {
    this.lockedMemory.assertFits(
      this.defaultWindow.pendingBytes(),
      'creating the default DMA window',
    );
  }

  /** The handle of a mapping the kernel made and the books hold. */
  private handle(record: MappingRecord): Mapping {
    const mapping = new Mapping(this.container, record, this.windows.handle(record.window));
    record.handle = mapping;
    if (record.owner instanceof DmaBuffer) record.owner.hold();
    return mapping;
  }

  private own(mapping: Mapping): MappingRecord {
    if (
      !(mapping instanceof Mapping) ||
      mapping.container !== this.container ||
      mapping.record.handle !== mapping
    ) {
      const { iova, size } = mapping instanceof Mapping ? mapping.record : { iova: 0n, size: 0n };
      throw new MappingNotFoundError({ iova, size, staleHandle: true });
    }
    return mapping.record;
  }

  /**
   * The kernel refused entry `index` of a batch: undo its part in reverse. A range that would
   * not unmap stays in the books (and in list()) as the live mapping it still is.
   */
  private undoBatch(records: MappingRecord[], error: NativeError): never {
    const failed = error.index ?? 0;
    for (let i = records.length - 1; i >= 0; i -= 1) {
      const record = records[i];
      try {
        if (i < failed) this.binding.unmapDma(this.fd, record.iova, record.size);
        this.ledger.commitUnmap(record);
      } catch {
        this.handle(record);
      }
    }
    const r = records[failed];
    const what = r ? `: ${hex(r.size)} bytes at IOVA ${hex(r.iova)}` : '';
    return callNative(`mapping entries[${failed}] of ${records.length}${what}`, () => {
      throw error;
    });
  }
}

/** The mapping's handle stops being live and lets go of its buffer. */
function releaseMappingHandle(record: MappingRecord): void {
  record.handle = null;
  if (record.owner instanceof DmaBuffer) record.owner.release();
}
