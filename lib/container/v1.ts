// The legacy SPAPR TCE v1 IOMMU: no registration; VFIO_IOMMU_ENABLE pins and charges the whole
// 32-bit window at once, and maps are refused (EPERM) until it is enabled.
import type { NativeBinding } from '../binding';
import { callNative } from '../errors';
import { v1EnableBytes } from '../memlock';
import type { LockedMemory } from './locked-memory';
import type { MapRules } from './mappings';

export class V1Switch implements MapRules {
  readonly registrations = null;
  private on = false;

  constructor(
    private readonly binding: NativeBinding,
    private readonly fd: number,
    private readonly windowSize: bigint,
    private readonly systemPageSize: bigint,
    private readonly lockedMemory: LockedMemory,
  ) {}

  enabled(): boolean {
    return this.on;
  }

  /** VFIO_IOMMU_ENABLE, which charges the whole 32-bit window to locked memory. */
  enable(): void {
    if (this.on) return;
    const cost = v1EnableBytes(this.windowSize, this.systemPageSize);
    this.lockedMemory.assertFits(cost, 'enabling the v1 IOMMU (it locks the whole DMA window)');
    callNative('VFIO_IOMMU_ENABLE', () => this.binding.iommuEnable(this.fd));
    this.on = true;
  }

  disable(): void {
    if (!this.on) return;
    callNative('VFIO_IOMMU_DISABLE', () => this.binding.iommuDisable(this.fd));
    this.on = false;
  }
}
