// The guest side of a v2 container, for a VMM whose pseries guest drives its own IOMMU: guest
// RAM slots registered once, the guest's DMA windows served by host windows at the same bus
// addresses, and the guest's TCE hypercalls carried out on them with no locked-memory charge
// per call. The hypercall entry points answer with the status a VMM returns to the guest.
import type { Container } from '../container';
import {
  ArgumentRangeError,
  ClosedError,
  GuestTceRefusedError,
  H_PARAMETER,
  H_SUCCESS,
  IommuTypeError,
  InvalidArgumentError,
} from '../errors';
import { GuestMemory } from './guest-memory';
import { GuestWindows } from './guest-windows';
import type { GuestTceTable, TableOwner } from './tce-table';

export interface GuestIommuOptions {
  /**
   * The LIOBNs the guest names its windows by, the default window's first (as QEMU numbers a
   * PHB's windows: 0x80000000 | PHB index << 8 | window); default 0x80000000, 0x80000001.
   */
  liobns?: readonly number[];
  /** The guest's default 32-bit window size (default: the host's, 2 GiB on IODA2). */
  defaultWindowSize?: bigint;
}

/** What a TCE hypercall answers: the status for the guest, and H_GET_TCE's value. */
export interface HcallResult {
  status: number;
  tce?: bigint;
}

export class GuestIommu implements TableOwner {
  readonly memory: GuestMemory;
  readonly windows: GuestWindows;
  private closedBecause: string | null = null;

  private constructor(
    /** The container the guest's devices are attached to. */
    readonly container: Container,
    options: GuestIommuOptions,
  ) {
    const liobns = options.liobns ?? [0x80000000, 0x80000001];
    if (
      !Array.isArray(liobns) ||
      liobns.length === 0 ||
      liobns.some((l) => !Number.isInteger(l) || l < 0 || l > 0xffffffff) ||
      new Set(liobns).size !== liobns.length
    ) {
      throw new InvalidArgumentError('options.liobns must be distinct 32-bit unsigned integers');
    }
    const hostSize = container.info().dma32.size;
    const defaultSize = options.defaultWindowSize ?? hostSize;
    if (typeof defaultSize !== 'bigint' || defaultSize < 4096n || defaultSize > hostSize) {
      throw new ArgumentRangeError(
        `options.defaultWindowSize must be a bigint of 4096 to ${hostSize} (the host's window)`,
      );
    }
    this.memory = new GuestMemory(container, this, this.binding.guestMemoryCreate());
    this.windows = new GuestWindows(container, this, this.memory, liobns, defaultSize);
  }

  /**
   * The guest side of a v2 container (groups attached, setIommu('v2') done). The guest's
   * default window is served at once by the host's default window.
   */
  static attach(container: Container, options: GuestIommuOptions = {}): GuestIommu {
    if (container.iommuType !== 'v2') {
      throw new IommuTypeError({
        reason: 'wrong-type',
        operation: 'the guest IOMMU',
        required: 'v2',
        current: container.iommuType ?? 'v1',
      });
    }
    const guest = new GuestIommu(container, options ?? {});
    guest.windows.defaultTable();
    container.onIommuReleased(() => guest.release('the container released its IOMMU'));
    return guest;
  }

  /** @internal */
  get binding() {
    return this.container.binding;
  }

  /** @internal */
  get fd(): number {
    return this.container.fd;
  }

  /** @internal Throws once the container is closed or its IOMMU released. */
  assertUsable(): void {
    if (this.closedBecause !== null) {
      throw new ClosedError({ what: `the guest IOMMU (${this.closedBecause})` });
    }
    if (this.container.closed) throw new ClosedError({ what: 'VFIO container' });
  }

  /** The table of a LIOBN; a hypercall on an unknown one is refused with H_PARAMETER. */
  table(liobn: number, hcall = 'hypercall'): GuestTceTable {
    const table = this.windows.table(liobn);
    if (!table) {
      throw new GuestTceRefusedError({ hcall, reason: 'unknown-liobn', liobn, ioba: 0n, index: 0 });
    }
    return table;
  }

  // --- the hypercalls, answering with the guest's status -------------------------------

  /** H_PUT_TCE. */
  putTce(liobn: number, ioba: bigint, tce: bigint): HcallResult {
    return this.answer(() => this.table(liobn, 'H_PUT_TCE').put(ioba, tce));
  }

  /** H_PUT_TCE_INDIRECT: the list at guest-physical `listGpa`, as the guest hands it. */
  putTceIndirect(liobn: number, ioba: bigint, listGpa: bigint, count: number): HcallResult {
    return this.answer(() =>
      this.table(liobn, 'H_PUT_TCE_INDIRECT').putIndirect(ioba, listGpa, count),
    );
  }

  /** H_STUFF_TCE. */
  stuffTce(liobn: number, ioba: bigint, value: bigint, count: number): HcallResult {
    return this.answer(() => this.table(liobn, 'H_STUFF_TCE').stuff(ioba, value, count));
  }

  /** H_GET_TCE. */
  getTce(liobn: number, ioba: bigint): HcallResult {
    let tce = 0n;
    const result = this.answer(() => {
      tce = this.table(liobn, 'H_GET_TCE').get(ioba);
    });
    return result.status === H_SUCCESS ? { status: H_SUCCESS, tce } : result;
  }

  /**
   * Leaves the container as it was before attach(): every guest window's entries unmapped,
   * the dynamic windows removed, the slots removed and their memory unregistered.
   */
  close(): void {
    if (this.closedBecause !== null) return;
    if (!this.container.closed && this.container.iommuType === 'v2') {
      this.windows.reset();
      this.windows.detach();
      for (const slot of [...this.memory.slots()]) this.memory.removeSlot(slot);
    }
    this.release('closed');
  }

  private release(why: string): void {
    this.windows.retireAll(why);
    this.closedBecause = why;
  }

  /** H_SUCCESS, or the status a guest-side refusal names; other failures are the VMM's. */
  private answer(call: () => void): HcallResult {
    try {
      call();
      return { status: H_SUCCESS };
    } catch (error) {
      if (error instanceof GuestTceRefusedError) return { status: error.hcallStatus };
      if (error instanceof InvalidArgumentError || error instanceof ArgumentRangeError) {
        return { status: H_PARAMETER };
      }
      throw error;
    }
  }
}
