// What setIommu() creates and the kernel's release of the IOMMU (the last group leaving)
// destroys: the books, the windows, the registrations (v2) or the enable switch (v1), the
// mappings. v1 and v2 differ only in the parts they are built from.
import type { NativeBinding } from '../binding';
import { callNative } from '../errors';
import { Ledger } from '../ledger';
import type { Container } from './container';
import { LazyDefaultWindow } from './kernel-quirks';
import type { LockedMemory } from './locked-memory';
import { Mappings, type MapRules } from './mappings';
import { ProcessRegistry } from './process-registry';
import { Registrations } from './registrations';
import type { ContainerInfo, IommuType } from './types';
import { V1Switch } from './v1';
import { Windows } from './windows';

function readInfo(binding: NativeBinding, fd: number): ContainerInfo {
  const raw = callNative('VFIO_IOMMU_SPAPR_TCE_GET_INFO', () => binding.spaprTceGetInfo(fd));
  const hasDdw = (raw.flags & binding.constants.VFIO_IOMMU_SPAPR_INFO_DDW) !== 0;
  const pageSizes: bigint[] = [];
  for (let shift = 0n; shift < 64n; shift += 1n) {
    if (raw.ddw.pgsizes & (1n << shift)) pageSizes.push(1n << shift);
  }
  return {
    dma32: { start: raw.dma32WindowStart, size: raw.dma32WindowSize },
    ddw: hasDdw
      ? { pageSizes, maxWindows: raw.ddw.maxDynamicWindows, levels: raw.ddw.levels }
      : null,
  };
}

export class Iommu {
  readonly info: ContainerInfo;
  readonly ledger: Ledger;
  readonly windows: Windows;
  /** v2 only. */
  readonly registrations: Registrations | null;
  /** v1 only. */
  readonly v1: V1Switch | null;
  readonly mappings: Mappings;

  constructor(
    readonly type: IommuType,
    container: Container,
    binding: NativeBinding,
    fd: number,
    systemPageSize: bigint,
    lockedMemory: LockedMemory,
  ) {
    this.info = readInfo(binding, fd);
    this.ledger = new Ledger(systemPageSize, type === 'v2');
    // 6.12 creates the default window's table lazily for v1 too (measured: +8 MiB at the
    // first v1 map, on top of ENABLE's whole-window charge).
    const defaultWindow = new LazyDefaultWindow(this.info.dma32.size, systemPageSize);
    this.windows = new Windows(
      container,
      binding,
      fd,
      this.ledger,
      this.info,
      lockedMemory,
      defaultWindow,
    );
    let rules: MapRules;
    if (type === 'v2') {
      this.registrations = new Registrations(
        container,
        binding,
        fd,
        this.ledger,
        lockedMemory,
        new ProcessRegistry(binding),
      );
      this.v1 = null;
      rules = { registrations: this.registrations, enabled: () => true };
    } else {
      this.registrations = null;
      this.v1 = new V1Switch(binding, fd, this.ledger, this.info.dma32.size, lockedMemory);
      rules = this.v1;
    }
    this.mappings = new Mappings(
      container,
      binding,
      fd,
      this.ledger,
      this.windows,
      rules,
      lockedMemory,
      defaultWindow,
    );
  }

  /** Async registrations still in flight. */
  get pendingRegistrations(): number {
    return this.registrations?.pendingCount ?? 0;
  }

  /** Forgets every mapping and region, releasing the buffers they held. */
  release(): void {
    this.mappings.releaseAll();
    this.registrations?.releaseAll();
  }
}
