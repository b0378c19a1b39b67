// A DMA window: a range of bus addresses translated by one TCE table of one IOMMU page size.
import type { Container } from './container';
import type { WindowRecord } from './ledger';

export class Window {
  /** @internal */
  constructor(
    private readonly container: Container,
    /** @internal */ readonly record: WindowRecord,
  ) {}

  get start(): bigint {
    return this.record.start;
  }
  get size(): bigint {
    return this.record.size;
  }
  get end(): bigint {
    return this.record.start + this.record.size;
  }
  /** The IOMMU page size: IOVAs, sizes and addresses mapped here align to it. */
  get pageSize(): bigint {
    return this.record.pageSize;
  }
  get levels(): number {
    return this.record.levels;
  }
  /** The 32-bit window the kernel creates by itself. */
  get isDefault(): boolean {
    return this.record.isDefault;
  }
  get mappingCount(): number {
    return this.record.mappings.size;
  }

  remove(): void {
    this.container.removeWindow(this);
  }
}
