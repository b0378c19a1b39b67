// A registered block of memory (VFIO_IOMMU_SPAPR_REGISTER_MEMORY): pinned and charged to
// locked_vm once, mappable afterwards.
import type { Container } from './container';
import type { DmaBuffer } from './dma-buffer';
import type { RegionRecord } from './ledger';

export class Region {
  /** @internal */
  constructor(
    /** @internal */ readonly container: Container,
    /** @internal */ readonly record: RegionRecord,
    /** The library buffer the memory belongs to; null for caller-owned memory. */
    readonly buffer: DmaBuffer | null,
  ) {}

  get address(): bigint {
    return this.record.address;
  }
  get size(): bigint {
    return this.record.size;
  }
  get backingPageSize(): bigint {
    return this.record.backingPageSize;
  }
  /** Live mappings that use this region. */
  get mappingCount(): number {
    return this.record.mappingCount;
  }

  unregister(): void {
    this.container.unregister(this);
  }
}
