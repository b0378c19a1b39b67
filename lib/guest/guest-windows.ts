// The guest's DMA windows and the DDW RTAS calls that manage them (ibm,query-pe-dma-window,
// ibm,create-pe-dma-window, ibm,remove-pe-dma-window, ibm,reset-pe-dma-window), answered from
// the host: every guest window is a host window at the same bus address, whose start the
// kernel chooses (0 for the first window, 0x0800000000000000 for the second on IODA2): the
// VMM tells the guest the start these calls return.
import type { Container } from '../container';
import {
  GuestWindowRefusedError,
  RTAS_HARDWARE_ERROR,
  RTAS_PARAMETER_ERROR,
  TceTableAllocationError,
} from '../errors';
import { log2 } from '../validate';
import type { Window } from '../window';
import type { GuestMemory } from './guest-memory';
import { DDW_LARGEST_BLOCK_PAGES, DDW_PAGE_SIZE_BITS } from './papr';
import { GuestTceTable, type TableOwner } from './tce-table';

/** ibm,query-pe-dma-window's answer. */
export interface DdwQuery {
  /** Windows the guest may still create. */
  available: number;
  /** The largest window, in IOMMU pages. */
  largestBlockPages: bigint;
  /** The IOMMU page sizes the guest may ask for (host offer, limited by the slots' backing). */
  pageSizes: bigint[];
  /** The same as ibm,query-pe-dma-window's page-size mask. */
  pageSizeMask: number;
}

export class GuestWindows {
  private readonly tableList: GuestTceTable[] = [];

  /** @internal Made by GuestIommu. */
  constructor(
    private readonly container: Container,
    private readonly owner: TableOwner,
    private readonly memory: GuestMemory,
    private readonly liobns: readonly number[],
    private readonly defaultSize: bigint,
  ) {}

  /** The guest tables, by bus address. */
  tables(): readonly GuestTceTable[] {
    return this.tableList;
  }

  /** The table the guest names by `liobn`, or undefined. */
  table(liobn: number): GuestTceTable | undefined {
    return this.tableList.find((t) => t.liobn === liobn);
  }

  /** ibm,query-pe-dma-window. */
  query(): DdwQuery {
    this.owner.assertUsable();
    const ddw = this.container.info().ddw;
    const pageSizes = this.offeredPageSizes();
    let pageSizeMask = 0;
    for (const size of pageSizes) pageSizeMask |= DDW_PAGE_SIZE_BITS.get(log2(size)) ?? 0;
    return {
      available: (ddw?.maxWindows ?? 1) - this.container.windows().length,
      largestBlockPages: DDW_LARGEST_BLOCK_PAGES,
      pageSizes,
      pageSizeMask,
    };
  }

  /** ibm,create-pe-dma-window: a window of 2^windowShift bytes in pages of 2^pageShift. */
  create(options: { pageShift: number; windowShift: number }): GuestTceTable {
    this.owner.assertUsable();
    const call = 'ibm,create-pe-dma-window';
    const { pageShift, windowShift } = options ?? ({} as typeof options);
    if (
      !Number.isInteger(pageShift) ||
      !Number.isInteger(windowShift) ||
      windowShift < pageShift ||
      windowShift > 62 ||
      !this.offeredPageSizes().includes(1n << BigInt(pageShift))
    ) {
      throw new GuestWindowRefusedError({
        call,
        rtasStatus: RTAS_PARAMETER_ERROR,
        problem:
          `pages of 2^${pageShift} in a window of 2^${windowShift} bytes are not offered ` +
          `(page sizes: ${this.offeredPageSizes().join(', ')}, limited by the host and by the ` +
          "slots' backing pages)",
      });
    }
    const liobn = this.liobns.find((l) => !this.table(l));
    if (this.query().available <= 0 || liobn === undefined) {
      throw new GuestWindowRefusedError({
        call,
        rtasStatus: RTAS_HARDWARE_ERROR,
        problem: 'no window is left to create: remove one first',
      });
    }
    const window = this.hostWindow(1n << BigInt(pageShift), 1n << BigInt(windowShift));
    return this.serve(liobn, window, window.size);
  }

  /** ibm,remove-pe-dma-window: unmaps every entry and removes the host window. */
  remove(liobn: number): void {
    this.owner.assertUsable();
    const table = this.table(liobn);
    if (!table) {
      throw new GuestWindowRefusedError({
        call: 'ibm,remove-pe-dma-window',
        rtasStatus: RTAS_PARAMETER_ERROR,
        problem: `no guest window has LIOBN 0x${liobn.toString(16)}`,
      });
    }
    this.retire(table, 'removed by ibm,remove-pe-dma-window');
  }

  /**
   * ibm,reset-pe-dma-window: every dynamic window goes and the default window comes back
   * empty (re-created on the host if the guest had removed it).
   */
  reset(): GuestTceTable {
    this.owner.assertUsable();
    for (const table of [...this.tableList]) {
      if (table.isDefault) table.clear();
      else this.retire(table, 'removed by ibm,reset-pe-dma-window');
    }
    return this.defaultTable();
  }

  /** @internal The default window's table, serving the host's default window (made if gone). */
  defaultTable(): GuestTceTable {
    const existing = this.tableList.find((t) => t.isDefault);
    if (existing) return existing;
    const host =
      this.container.windows().find((w) => w.isDefault) ??
      this.hostWindow(4096n, this.container.info().dma32.size);
    return this.serve(this.liobns[0], host, this.defaultSize);
  }

  /** @internal The tables stop serving their windows, which go back to the container (empty). */
  detach(): void {
    for (const table of this.tableList) {
      table.clear();
      table.window.record.servedBy = null;
    }
  }

  /** @internal Every table stops: the container's IOMMU is gone. */
  retireAll(why: string): void {
    for (const table of this.tableList.splice(0)) table.retire(why);
  }

  private serve(liobn: number, window: Window, size: bigint): GuestTceTable {
    const native = this.owner.binding.guestTableCreate(
      this.memory.native,
      window.start,
      log2(window.pageSize),
      size < window.size ? size : window.size,
    );
    const table = new GuestTceTable(this.owner, liobn, window, native);
    window.record.servedBy = table;
    this.tableList.push(table);
    this.tableList.sort((a, b) => (a.start < b.start ? -1 : 1));
    return table;
  }

  private retire(table: GuestTceTable, why: string): void {
    table.clear();
    table.window.record.servedBy = null;
    this.container.removeWindow(table.window);
    table.retire(why);
    this.tableList.splice(this.tableList.indexOf(table), 1);
  }

  /** A host window of this geometry, in the fewest TCE table levels the kernel can allocate. */
  private hostWindow(pageSize: bigint, size: bigint): Window {
    const maxLevels = this.container.info().ddw?.levels ?? 1;
    for (let levels = 1; ; levels += 1) {
      try {
        return this.container.createWindow({ pageSize, size, levels });
      } catch (error) {
        const refusedBefore =
          error instanceof TceTableAllocationError && error.strandedBytes === 0n;
        if (!refusedBefore || levels >= maxLevels) throw error;
      }
    }
  }

  /** The host's page sizes no larger than every slot's backing page (the kernel refuses more). */
  private offeredPageSizes(): bigint[] {
    const host = this.container.info().ddw?.pageSizes ?? [4096n];
    const slots = this.memory.slots();
    const backing = slots.reduce(
      (min, s) => (s.region.backingPageSize < min ? s.region.backingPageSize : min),
      slots.length ? slots[0].region.backingPageSize : BigInt(this.owner.binding.pageSize()),
    );
    return host.filter((size) => size <= backing && DDW_PAGE_SIZE_BITS.has(log2(size)));
  }
}
