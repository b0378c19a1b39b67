// One guest TCE table: the guest's view of a DMA window (its LIOBN), served on the host window
// at the same bus address. Each method is one hypercall; its rules and the host shadow live in
// the addon (native/guest_table.h), so a batch of entries crosses into it once.
import type { NativeBinding, NativeError, NativeGuestTable } from '../binding';
import {
  ClosedError,
  GuestTceRefusedError,
  InvalidArgumentError,
  callNative,
  type TceRefusal,
} from '../errors';
import type { WindowServer } from '../ledger';
import type { Window } from '../window';

/** What the table needs from the guest IOMMU that owns it. */
export interface TableOwner {
  readonly binding: NativeBinding;
  /** The container fd (checked open by assertUsable). */
  readonly fd: number;
  assertUsable(): void;
}

function assertBigint(name: string, value: unknown): void {
  if (typeof value !== 'bigint') {
    throw new InvalidArgumentError(`${name} must be a bigint, got ${typeof value}`);
  }
}

function assertCount(name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`${name} must be a non-negative integer, got ${String(value)}`);
  }
}

export class GuestTceTable implements WindowServer {
  private dead: string | null = null;

  /** @internal Made by GuestWindows. */
  constructor(
    private readonly owner: TableOwner,
    /** The logical I/O bus number the guest names the window by. */
    readonly liobn: number,
    /** The host window serving it: the same bus addresses. */
    readonly window: Window,
    /** @internal */ readonly native: NativeGuestTable,
  ) {}

  /** The window's first bus address: what the VMM tells the guest. */
  get start(): bigint {
    return this.window.start;
  }
  get size(): bigint {
    return this.window.size;
  }
  get pageSize(): bigint {
    return this.window.pageSize;
  }
  get isDefault(): boolean {
    return this.window.isDefault;
  }
  /** Entries with permission bits: pages the device can reach now. */
  get liveEntries(): number {
    return this.owner.binding.guestTableLiveCount(this.native);
  }

  /** H_PUT_TCE: one entry; a TCE with no permission bits clears it. */
  put(ioba: bigint, tce: bigint): void {
    this.usable();
    assertBigint('ioba', ioba);
    assertBigint('tce', tce);
    try {
      this.owner.binding.guestTablePut(this.native, this.owner.fd, ioba, tce);
    } catch (error) {
      throw this.typedError('H_PUT_TCE', ioba, error);
    }
  }

  /**
   * H_PUT_TCE_INDIRECT: `count` (at most 512) entries from the guest's list at guest-physical
   * `listGpa` (4 KiB aligned, big-endian TCEs, as the guest hands them), read in place.
   */
  putIndirect(ioba: bigint, listGpa: bigint, count: number): void {
    this.usable();
    assertBigint('ioba', ioba);
    assertBigint('listGpa', listGpa);
    assertCount('count', count);
    try {
      this.owner.binding.guestTablePutIndirect(this.native, this.owner.fd, ioba, listGpa, count);
    } catch (error) {
      throw this.typedError('H_PUT_TCE_INDIRECT', ioba, error);
    }
  }

  /** H_PUT_TCE_INDIRECT from a list the VMM already holds, in host byte order. */
  putList(ioba: bigint, tces: BigUint64Array, count: number = tces?.length): void {
    this.usable();
    assertBigint('ioba', ioba);
    if (!(tces instanceof BigUint64Array)) {
      throw new InvalidArgumentError('tces must be a BigUint64Array');
    }
    assertCount('count', count);
    try {
      this.owner.binding.guestTablePutList(this.native, this.owner.fd, ioba, tces, count);
    } catch (error) {
      throw this.typedError('H_PUT_TCE_INDIRECT', ioba, error);
    }
  }

  /** H_STUFF_TCE: one value over `count` entries (0n clears them). */
  stuff(ioba: bigint, value: bigint, count: number): void {
    this.usable();
    assertBigint('ioba', ioba);
    assertBigint('value', value);
    assertCount('count', count);
    try {
      this.owner.binding.guestTableStuff(this.native, this.owner.fd, ioba, value, count);
    } catch (error) {
      throw this.typedError('H_STUFF_TCE', ioba, error);
    }
  }

  /** H_GET_TCE: the entry as the guest last put it (0n when never put). */
  get(ioba: bigint): bigint {
    this.usable();
    assertBigint('ioba', ioba);
    try {
      return this.owner.binding.guestTableGet(this.native, ioba);
    } catch (error) {
      throw this.typedError('H_GET_TCE', ioba, error);
    }
  }

  /** @internal What the device reaches at a bus address of the window (for translate()). */
  translate(iova: bigint): { tce: bigint; address: bigint } | undefined {
    const entry = this.owner.binding.guestTableTranslate(this.native, iova);
    return entry && { tce: entry[0], address: entry[1] };
  }

  /** @internal A group left the container: the kernel stopped translating for the others. */
  reinstall(): void {
    callNative(`re-installing the guest TCEs of LIOBN 0x${this.liobn.toString(16)}`, () =>
      this.owner.binding.guestTableReinstall(this.native, this.owner.fd),
    );
  }

  /** @internal Unmaps every live entry (the window is being removed or reset). */
  clear(): void {
    callNative(`clearing the guest TCEs of LIOBN 0x${this.liobn.toString(16)}`, () =>
      this.owner.binding.guestTableClear(this.native, this.owner.fd),
    );
  }

  /** @internal The table no longer serves a window: `why` goes into the errors. */
  retire(why: string): void {
    this.dead = why;
  }

  private usable(): void {
    if (this.dead !== null) {
      throw new ClosedError({
        what: `guest TCE table LIOBN 0x${this.liobn.toString(16)} (${this.dead})`,
      });
    }
    this.owner.assertUsable();
  }

  /** The addon's refusal as the typed error naming the hypercall status; errnos as usual. */
  private typedError(hcall: string, ioba: bigint, error: unknown): unknown {
    const native = error as NativeError & { reason?: string };
    if (native?.code === 'ERR_VFIO_NATIVE_GUEST_REFUSED') {
      return new GuestTceRefusedError({
        hcall,
        reason: native.reason as TceRefusal,
        liobn: this.liobn,
        ioba,
        index: native.index ?? 0,
      });
    }
    try {
      return callNative(
        () =>
          `${hcall} on LIOBN 0x${this.liobn.toString(16)} at IOBA 0x${ioba.toString(16)}` +
          (native?.index ? `, entry ${native.index} (the entries before it are done)` : ''),
        () => {
          throw error;
        },
      );
    } catch (translated) {
      return translated;
    }
  }
}
