// DMA windows: the default 32-bit window the kernel makes, and the dynamic windows v2 creates
// and removes (VFIO_IOMMU_SPAPR_TCE_CREATE/REMOVE), each checked against the host's geometry
// and the locked memory its TCE table costs before the kernel is asked.
import type { NativeBinding } from '../binding';
import {
  ArgumentRangeError,
  NoDynamicWindowsError,
  PageSizeError,
  WindowLimitError,
  WindowNotFoundError,
  callNative,
} from '../errors';
import { DEFAULT_WINDOW } from '../kernel-constants';
import type { Ledger, WindowRecord } from '../ledger';
import { largestContiguousBlock, tceTableBytes } from '../memlock';
import { hex, isPowerOfTwo, log2, orDefault, toIndex, toOptions, toSize } from '../validate';
import { Window } from '../window';
import type { Container } from './container';
import {
  assertTceLevelsAllocatable,
  classifyWindowCreateFailure,
  type LazyDefaultWindow,
} from './kernel-quirks';
import type { LockedMemory } from './locked-memory';
import type { ContainerInfo, WindowOptions } from './types';

export class Windows {
  private readonly handles = new Map<WindowRecord, Window>();
  /** The largest block the kernel's page allocator gives, once read (null: unknown). */
  private largestBlock: bigint | null | undefined;

  constructor(
    private readonly container: Container,
    private readonly binding: NativeBinding,
    private readonly fd: number,
    private readonly ledger: Ledger,
    private readonly info: ContainerInfo,
    private readonly lockedMemory: LockedMemory,
    private readonly defaultWindow: LazyDefaultWindow,
  ) {
    const { dma32 } = info;
    const page = 1n << BigInt(DEFAULT_WINDOW.pageShift);
    this.handle(ledger.commitWindow(dma32.start, dma32.size, page, DEFAULT_WINDOW.levels, true));
  }

  list(): Window[] {
    return this.ledger.windows().map((record) => this.handle(record));
  }

  create(options: WindowOptions): Window {
    const opts = toOptions<WindowOptions>('options', options);
    const pageSize = toSize('options.pageSize', opts.pageSize, { min: 1n });
    const size = toSize('options.size', opts.size, { min: 1n });
    const levels = toIndex('options.levels', orDefault(opts.levels, 1), 64);
    const ddw = this.info.ddw;
    if (ddw === null) {
      throw new NoDynamicWindowsError();
    }
    if (!ddw.pageSizes.includes(pageSize)) {
      throw new PageSizeError({ reason: 'not-offered', pageSize, offered: ddw.pageSizes });
    }
    if (!isPowerOfTwo(size) || size < pageSize) {
      throw new ArgumentRangeError(
        `window size ${size} must be a power of two of at least one ${pageSize}-byte page`,
      );
    }
    if (levels < 1 || levels > ddw.levels) {
      throw new ArgumentRangeError(`levels must be in [1, ${ddw.levels}], got ${levels}`);
    }
    const existing = this.ledger.windows().length;
    if (existing >= ddw.maxWindows) {
      throw new WindowLimitError({ maxWindows: ddw.maxWindows, existing });
    }
    const pageShift = log2(pageSize);
    const systemPageSize = this.ledger.systemPageSize;
    if (this.largestBlock === undefined) {
      this.largestBlock = largestContiguousBlock(this.binding, systemPageSize);
    }
    assertTceLevelsAllocatable(
      this.largestBlock,
      { pageShift, size, levels, maxLevels: ddw.levels },
      systemPageSize,
    );
    const tableBytes = tceTableBytes(pageShift, size, levels, systemPageSize);
    const defaultBytes = this.defaultWindow.pendingBytes();
    this.lockedMemory.assertFits(defaultBytes + tableBytes, 'creating the DMA window');
    const lockedBefore = this.binding.vmLockedBytes();
    const start = callNative(
      `creating a ${hex(size)}-byte window of ${pageSize}-byte pages`,
      () => this.binding.spaprTceCreate(this.fd, pageShift, size, levels),
      (native) =>
        classifyWindowCreateFailure(native, {
          lockedRise: this.binding.vmLockedBytes() - lockedBefore,
          tableBytes,
          defaultBytes,
          window: { windowSize: size, pageSize, levels },
          defaultWindow: this.defaultWindow,
        }),
    );
    this.defaultWindow.settled();
    return this.handle(this.ledger.commitWindow(start, size, pageSize, levels, false));
  }

  /** VFIO_IOMMU_SPAPR_TCE_REMOVE. Refused while the window has mappings. */
  remove(window: Window): void {
    const record = this.own(window);
    this.ledger.checkRemoveWindow(record);
    callNative(`removing the window at ${hex(record.start)}`, () =>
      this.binding.spaprTceRemove(this.fd, record.start),
    );
    if (record.isDefault) this.defaultWindow.settled();
    this.ledger.commitRemoveWindow(record);
    this.handles.delete(record);
  }

  /** The one Window object of a window record. */
  handle(record: WindowRecord): Window {
    let window = this.handles.get(record);
    if (!window) {
      window = new Window(this.container, record);
      this.handles.set(record, window);
    }
    return window;
  }

  /** The books' record of a live window of this container. */
  own(window: Window): WindowRecord {
    if (!(window instanceof Window) || this.handles.get(window.record) !== window) {
      const { start, size } = window instanceof Window ? window.record : { start: 0n, size: 0n };
      throw new WindowNotFoundError({ start, size });
    }
    return window.record;
  }
}
