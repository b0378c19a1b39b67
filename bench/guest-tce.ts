// The guest IOMMU's cases of the bench: a guest's TCE hypercalls served by the library against
// the C reference doing what QEMU does (one MAP or UNMAP ioctl per TCE), and one put + one
// clear against the raw binding's two ioctls, in the same rounds. Also the locked memory
// across 100,000 puts, the first (cold) batch timed apart.
import { Container, DmaBuffer, GuestIommu, type GuestTceTable } from '../lib';
import { nativeBinding } from '../lib/binding';

/** Entries per batch: one H_PUT_TCE_INDIRECT list. */
export const TCE_BATCH = 512;
const RW = 3n;
/** A guest page: 4 KiB (the default window's IOMMU page). */
const PAGE = 4096n;

export type GuestTceOp =
  | 'tce-scatter'
  | 'tce-contig'
  | 'tce-clear'
  | 'tce-putclear'
  | 'map-binding-4k'
  | 'scatter-binding';

/** The library side of the guest cases: a guest IOMMU over the bench container, one slot. */
export class GuestTceSubject {
  private guest: GuestIommu | null = null;
  private ram: DmaBuffer | null = null;
  private table: GuestTceTable | null = null;
  private readonly scattered = new BigUint64Array(TCE_BATCH);
  private readonly contiguous = new BigUint64Array(TCE_BATCH);
  private readonly binding = nativeBinding();

  constructor(private readonly container: Container) {
    for (let i = 0; i < TCE_BATCH; i += 1) {
      // Page i*7 mod 512: every page once, no two neighbours adjacent (as the C reference).
      this.scattered[i] = (BigInt((i * 7) % TCE_BATCH) * PAGE) | RW;
      this.contiguous[i] = (BigInt(i) * PAGE) | RW;
    }
  }

  prepare(): void {
    this.guest = GuestIommu.attach(this.container);
    this.ram = DmaBuffer.allocate(Number(BigInt(TCE_BATCH) * PAGE));
    this.ram.bytes().fill(0);
    this.guest.memory.addSlot({ gpa: 0n, memory: this.ram });
    this.table = this.guest.windows.tables()[0];
  }

  release(): void {
    this.guest?.close();
    this.ram?.free();
    this.guest = null;
    this.ram = null;
    this.table = null;
  }

  /** Nanoseconds for `ops` entries (batches of 512) or `ops` put+clear pairs. */
  run(op: string, ops: number): number {
    const table = this.table as GuestTceTable;
    let timed = 0n;
    if (op === 'tce-putclear') {
      const start = process.hrtime.bigint();
      for (let i = 0; i < ops; i += 1) {
        table.put(0n, PAGE | RW);
        table.put(0n, 0n);
      }
      return Number(process.hrtime.bigint() - start);
    }
    if (op === 'map-binding-4k') {
      // What the library's put + clear ask of the kernel, through the raw binding.
      const { fd } = this.container;
      const address = (this.ram as DmaBuffer).address + PAGE;
      const start = process.hrtime.bigint();
      for (let i = 0; i < ops; i += 1) {
        this.binding.mapDma(fd, address, 0n, PAGE, 3);
        this.binding.unmapDma(fd, 0n, PAGE);
      }
      return Number(process.hrtime.bigint() - start);
    }
    if (op === 'scatter-binding') {
      // The same 512 scattered MAPs through the raw binding's batch call, no checks: what this
      // process pays for the kernel's work, apart from the library.
      const { fd } = this.container;
      const address = (this.ram as DmaBuffer).address;
      const ranges = new BigUint64Array(TCE_BATCH * 4);
      for (let i = 0; i < TCE_BATCH; i += 1) {
        ranges[i * 4] = address + (this.scattered[i] & ~RW);
        ranges[i * 4 + 1] = BigInt(i) * PAGE;
        ranges[i * 4 + 2] = PAGE;
        ranges[i * 4 + 3] = RW;
      }
      for (let done = 0; done < ops; done += TCE_BATCH) {
        const start = process.hrtime.bigint();
        this.binding.mapDmaBatch(fd, ranges);
        timed += process.hrtime.bigint() - start;
        this.binding.unmapDma(fd, 0n, BigInt(TCE_BATCH) * PAGE);
      }
      return Number(timed);
    }
    for (let done = 0; done < ops; done += TCE_BATCH) {
      const list = op === 'tce-contig' ? this.contiguous : this.scattered;
      const start = process.hrtime.bigint();
      if (op !== 'tce-clear') table.putList(0n, list);
      const mid = process.hrtime.bigint();
      table.stuff(0n, 0n, TCE_BATCH);
      const end = process.hrtime.bigint();
      timed += op === 'tce-clear' ? end - mid : mid - start;
      // A clear's round leaves the table full: the next round's clear has entries to clear.
      if (op === 'tce-clear') table.putList(0n, list);
    }
    return Number(timed);
  }

  /**
   * VmLck across `puts` puts in batches of 512 scattered entries (each cleared after), the
   * first batch timed apart: the puts charge no locked memory.
   */
  steadyLocked(puts: number) {
    const table = this.table as GuestTceTable;
    const lockedBefore = this.binding.vmLockedBytes();
    const batchNs: number[] = [];
    for (let done = 0; done < puts; done += TCE_BATCH) {
      const start = process.hrtime.bigint();
      table.putList(0n, this.scattered);
      batchNs.push(Number(process.hrtime.bigint() - start));
      table.stuff(0n, 0n, TCE_BATCH);
    }
    const lockedAfter = this.binding.vmLockedBytes();
    const [cold, ...warm] = batchNs;
    const sorted = [...warm].sort((a, b) => a - b);
    return {
      puts: batchNs.length * TCE_BATCH,
      lockedBefore: lockedBefore.toString(),
      lockedAfter: lockedAfter.toString(),
      coldBatchNsPerEntry: cold / TCE_BATCH,
      warmBatchNsPerEntryMedian: sorted[sorted.length >> 1] / TCE_BATCH,
    };
  }
}
