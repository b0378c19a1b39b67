// A live DMA mapping: IOVA range -> process memory, in one window.
import type { Container } from './container';
import type { MappingRecord } from './ledger';
import type { Window } from './window';

export class Mapping {
  /** @internal */
  constructor(
    /** @internal */ readonly container: Container,
    /** @internal */ readonly record: MappingRecord,
    readonly window: Window,
  ) {}

  get iova(): bigint {
    return this.record.iova;
  }
  get size(): bigint {
    return this.record.size;
  }
  /** The process virtual address the first IOVA translates to. */
  get address(): bigint {
    return this.record.address;
  }
  get readable(): boolean {
    return this.record.readable;
  }
  get writable(): boolean {
    return this.record.writable;
  }

  unmap(): void {
    this.container.unmap(this);
  }
}
