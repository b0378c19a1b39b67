// The legacy SPAPR TCE v1 IOMMU: no registration; VFIO_IOMMU_ENABLE pins and charges the whole
// 32-bit window at once, and maps and unmaps are refused (EPERM) while it is not enabled.
import type { NativeBinding } from '../binding';
import { WindowInUseError, callNative } from '../errors';
import type { Ledger } from '../ledger';
import { v1EnableBytes } from '../memlock';
import type { LockedMemory } from './locked-memory';
import type { MapRules } from './mappings';

export class V1Switch implements MapRules {
  readonly registrations = null;
  private on = false;

  constructor(
    private readonly binding: NativeBinding,
    private readonly fd: number,
    private readonly ledger: Ledger,
    private readonly windowSize: bigint,
    private readonly lockedMemory: LockedMemory,
  ) {}

  enabled(): boolean {
    return this.on;
  }

  /** VFIO_IOMMU_ENABLE, which charges the whole 32-bit window to locked memory. */
  enable(): void {
    if (this.on) return;
    const cost = v1EnableBytes(this.windowSize, this.ledger.systemPageSize);
    this.lockedMemory.assertFits(cost, 'enabling the v1 IOMMU (it locks the whole DMA window)');
    callNative('VFIO_IOMMU_ENABLE', () => this.binding.iommuEnable(this.fd));
    this.on = true;
  }

  /**
   * VFIO_IOMMU_DISABLE, refused while mappings are live: DISABLE leaves their pages pinned and
   * translating, and the kernel's UNMAP answers EPERM while the container is disabled, so they
   * could no longer be unmapped.
   */
  disable(): void {
    if (!this.on) return;
    const live = this.ledger.mappingCount();
    if (live > 0) {
      const [window] = this.ledger.windows();
      throw new WindowInUseError({ start: window.start, size: window.size, mappingCount: live });
    }
    callNative('VFIO_IOMMU_DISABLE', () => this.binding.iommuDisable(this.fd));
    this.on = false;
  }
}
