// The process's registrations, as the kernel keeps them: one list per process (mm), shared by
// every container and worker_thread, where an identical range is shared at no new charge and
// any other overlap is refused. The addon keeps the list (native/registry.cc); each
// kernel-level registration is booked there before its ioctl, so the refusal comes before the
// kernel pins anything and the prediction counts what the kernel will really charge.
import type { NativeBinding, NativeError } from '../binding';
import { RegionOverlapError } from '../errors';

/** One REGISTER_MEMORY call's range. */
export interface KernelBlock {
  readonly address: bigint;
  readonly size: bigint;
}

export class ProcessRegistry {
  constructor(private readonly binding: NativeBinding) {}

  /**
   * Books every block of a registration; returns the bytes the kernel will charge (blocks
   * identical to a registration of this process are shared, free). A block overlapping one
   * otherwise is refused with RegionOverlapError, nothing booked.
   */
  book(request: KernelBlock, blocks: readonly KernelBlock[]): bigint {
    let charged = 0n;
    for (let i = 0; i < blocks.length; i += 1) {
      const { address, size } = blocks[i];
      let holders: number;
      try {
        holders = this.binding.registryAcquire(address, size);
      } catch (error) {
        this.unbook(blocks.slice(0, i));
        const native = error as NativeError & { conflictAddress?: bigint; conflictSize?: bigint };
        if (native.code !== 'ERR_VFIO_NATIVE_REGISTRATION_OVERLAP') throw error;
        throw new RegionOverlapError({
          address: request.address,
          size: request.size,
          conflict: { start: native.conflictAddress ?? 0n, size: native.conflictSize ?? 0n },
          scope: 'process',
        });
      }
      if (holders === 0) charged += size;
    }
    return charged;
  }

  /** The kernel pinned (or shares) the block: it is in VmLck now. */
  confirm(block: KernelBlock): void {
    this.binding.registryConfirm(block.address, block.size);
  }

  /** Drops the bookings of blocks the kernel released, or never registered. */
  unbook(blocks: readonly KernelBlock[]): void {
    for (const { address, size } of blocks) this.binding.registryRelease(address, size);
  }
}
