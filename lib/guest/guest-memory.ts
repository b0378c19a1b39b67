// Guest RAM: guest-physical slots, each backed by host memory registered once with the
// container (QEMU's "prereg" listener does the same per RAM section), so the guest's TCEs
// then only update the TCE table and charge no locked memory. Slots may be added while the
// guest runs (hotplug); one is removed only once no guest TCE points into it.
import type { NativeGuestMemory } from '../binding';
import type { AsyncRegisterOptions, Container } from '../container';
import { DmaBuffer } from '../dma-buffer';
import {
  ArgumentRangeError,
  InvalidArgumentError,
  SlotInUseError,
  SlotOverlapError,
  formatRange,
} from '../errors';
import type { Region } from '../region';
import { toAddress, toOptions, toSize } from '../validate';
import type { TableOwner } from './tce-table';

/** Host memory for a slot: a library buffer, or memory the VMM owns (e.g. a mapped memfd). */
export type SlotMemory =
  | DmaBuffer
  | {
      /** Host virtual address of the slot's first byte; the VMM keeps it mapped. */
      address: bigint;
      size: bigint | number;
      /** The page size behind it (default: the system page size). */
      backingPageSize?: bigint | number;
    };

export interface SlotOptions {
  /** The slot's first guest-physical address (system page aligned). */
  gpa: bigint;
  memory: SlotMemory;
}

/** One guest RAM slot: [gpa, gpa+size) is host memory at `address`, registered. */
export class GuestSlot {
  /** @internal */
  constructor(
    private readonly memory: GuestMemory,
    readonly gpa: bigint,
    readonly size: bigint,
    readonly address: bigint,
    /** The container's registration of the host memory. */
    readonly region: Region,
    /** @internal The addon's slot id. */
    readonly id: number,
  ) {}

  /** Live guest TCEs pointing into the slot (across every guest window). */
  get users(): number {
    return this.memory.usersOf(this);
  }

  remove(): void {
    this.memory.removeSlot(this);
  }
}

export class GuestMemory {
  private readonly slotList: GuestSlot[] = [];
  /** Ranges booked by addSlotAsync while their registration runs. */
  private readonly pending: { gpa: bigint; size: bigint }[] = [];

  /** @internal Made by GuestIommu. */
  constructor(
    private readonly container: Container,
    private readonly owner: TableOwner,
    /** @internal */ readonly native: NativeGuestMemory,
  ) {}

  /** Adds a slot, registering its memory now (blocking: see addSlotAsync for gigabytes). */
  addSlot(options: SlotOptions): GuestSlot {
    const plan = this.plan(options);
    const region = plan.buffer
      ? this.container.register(plan.buffer)
      : this.container.registerCallerOwnedMemory(plan.address, plan.size, {
          backingPageSize: plan.backingPageSize,
        });
    return this.commit(plan.gpa, region);
  }

  /**
   * Adds a slot, registering its memory on the thread pool in blocks, with progress; an
   * aborted signal leaves nothing pinned and no slot.
   */
  async addSlotAsync(options: SlotOptions & AsyncRegisterOptions): Promise<GuestSlot> {
    const plan = this.plan(options);
    const booking = { gpa: plan.gpa, size: plan.size };
    this.pending.push(booking);
    try {
      const progress = { signal: options.signal, onProgress: options.onProgress };
      const region = plan.buffer
        ? await this.container.registerAsync(plan.buffer, progress)
        : await this.container.registerCallerOwnedMemoryAsync(plan.address, plan.size, {
            backingPageSize: plan.backingPageSize,
            ...progress,
          });
      return this.commit(plan.gpa, region);
    } finally {
      this.pending.splice(this.pending.indexOf(booking), 1);
    }
  }

  /** Removes a slot and unregisters its memory; refused while guest TCEs point into it. */
  removeSlot(slot: GuestSlot): void {
    this.owner.assertUsable();
    const index = this.slotList.indexOf(slot);
    if (index < 0) throw new InvalidArgumentError('the slot is not a slot of this guest');
    const users = this.usersOf(slot);
    if (users > 0) throw new SlotInUseError({ gpa: slot.gpa, size: slot.size, users });
    const held = slot.region.record.heldBy;
    slot.region.record.heldBy = null;
    try {
      this.container.unregister(slot.region);
    } catch (error) {
      slot.region.record.heldBy = held;
      throw error;
    }
    this.owner.binding.guestMemoryRemoveSlot(this.native, slot.id);
    this.slotList.splice(index, 1);
  }

  slots(): readonly GuestSlot[] {
    return this.slotList;
  }

  /** The host address of a guest-physical address, or null outside every slot. */
  translate(gpa: bigint): bigint | null {
    return this.owner.binding.guestMemoryTranslate(this.native, toAddress('gpa', gpa)) ?? null;
  }

  /** @internal */
  usersOf(slot: GuestSlot): number {
    return this.owner.binding.guestMemorySlotUsers(this.native, slot.id);
  }

  /** Every check addSlot makes before anything is registered. */
  private plan(options: SlotOptions) {
    this.owner.assertUsable();
    const opts = toOptions<SlotOptions>('options', options);
    const gpa = toAddress('options.gpa', opts.gpa);
    const memory = opts.memory;
    let plan: {
      gpa: bigint;
      size: bigint;
      address: bigint;
      backingPageSize: bigint | undefined;
      buffer: DmaBuffer | null;
    };
    if (memory instanceof DmaBuffer) {
      plan = {
        gpa,
        size: memory.bigSize,
        address: memory.address,
        backingPageSize: undefined,
        buffer: memory,
      };
    } else if (typeof memory === 'object' && memory !== null) {
      const size = toSize('options.memory.size', memory.size, { min: 1n });
      const address = toAddress('options.memory.address', memory.address);
      const backing =
        memory.backingPageSize === undefined
          ? undefined
          : toSize('options.memory.backingPageSize', memory.backingPageSize);
      plan = { gpa, size, address, backingPageSize: backing, buffer: null };
    } else {
      throw new InvalidArgumentError(
        'options.memory must be a DmaBuffer or { address, size } of memory the VMM owns',
      );
    }
    const pageSize = BigInt(this.owner.binding.pageSize());
    if (gpa % pageSize !== 0n) {
      throw new ArgumentRangeError(
        `options.gpa ${gpa} is not aligned to the ${pageSize}-byte page`,
      );
    }
    if (gpa + plan.size > 1n << 64n) {
      throw new ArgumentRangeError(`slot ${formatRange(gpa, plan.size)} runs past 2^64`);
    }
    for (const other of [...this.slotList, ...this.pending]) {
      if (other.gpa < gpa + plan.size && gpa < other.gpa + other.size) {
        throw new SlotOverlapError({
          gpa,
          size: plan.size,
          conflict: { start: other.gpa, size: other.size },
        });
      }
    }
    return plan;
  }

  private commit(gpa: bigint, region: Region): GuestSlot {
    const id = this.owner.binding.guestMemoryAddSlot(
      this.native,
      gpa,
      region.size,
      region.address,
      region.backingPageSize,
    );
    region.record.heldBy = `guest RAM slot ${formatRange(gpa, region.size)}`;
    const slot = new GuestSlot(this, gpa, region.size, region.address, region, id);
    this.slotList.push(slot);
    this.slotList.sort((a, b) => (a.gpa < b.gpa ? -1 : 1));
    return slot;
  }
}
