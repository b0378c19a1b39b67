// v2 memory registration (VFIO_IOMMU_SPAPR_REGISTER_MEMORY): pins a block once and charges it
// to locked memory; maps then only need the TCE table. Synchronous, or in blocks on the libuv
// pool for large memory. Every request is checked against the books and the memlock limit
// before the kernel is asked; unregister names exactly what was registered.
import { totalmem } from 'node:os';
import type { NativeBinding } from '../binding';
import { DmaBuffer } from '../dma-buffer';
import {
  AbortError,
  ArgumentRangeError,
  InvalidArgumentError,
  NotRegisteredError,
  OperationPendingError,
  RegionNotFoundError,
  callNative,
  callNativeAsync,
} from '../errors';
import type { Ledger, RegionRecord, RegisterPlan } from '../ledger';
import { Region } from '../region';
import { hex, isPowerOfTwo, orDefault, toAddress, toOptions, toSize } from '../validate';
import type { Container } from './container';
import {
  assertRegistrationFitsMemory,
  assertRegistrationWillReturn,
  classifyRegistrationFailure,
} from './kernel-quirks';
import type { LockedMemory } from './locked-memory';
import type { KernelBlock, ProcessRegistry } from './process-registry';
import { subRange } from './ranges';
import type { AsyncRegisterOptions, CallerOwnedMemoryOptions, RegisterOptions } from './types';

/**
 * The machine's memory, read once: os.totalmem() reads /proc/meminfo, which costs more than
 * the rest of a registration's checks (12 us on the host, measured by the bench).
 */
let machineMemoryBytes: bigint | null = null;
function machineMemory(): bigint {
  machineMemoryBytes ??= BigInt(totalmem());
  return machineMemoryBytes;
}

/** A registration every check allowed, ready for the kernel and the books. */
interface RegistrationRequest extends RegisterPlan {
  readonly backingPageSize: bigint;
  readonly buffer: DmaBuffer | null;
}

/**
 * Async registrations pin at most this much per ioctl: the kernel holds the mmap lock while it
 * pins a block, which stalls every thread of the process that faults or maps; between blocks
 * the event loop runs.
 */
const ASYNC_REGISTRATION_BLOCK = 16n << 20n;
/** At most this many kernel calls per async registration: beyond that, blocks grow. */
const MAX_ASYNC_BLOCKS = 4096n;

function blockSizeFor(backingPageSize: bigint, size: bigint): bigint {
  const block =
    backingPageSize > ASYNC_REGISTRATION_BLOCK ? backingPageSize : ASYNC_REGISTRATION_BLOCK;
  // A size no memory could have (the kernel says EFAULT at the first block) must not become
  // billions of blocks before the first ioctl: bound the count, in whole backing pages.
  const spread = (size + MAX_ASYNC_BLOCKS - 1n) / MAX_ASYNC_BLOCKS;
  if (spread <= block) return block;
  return ((spread + backingPageSize - 1n) / backingPageSize) * backingPageSize;
}

/** [address, address+size) in consecutive blocks of at most `block` bytes. */
function splitRange(address: bigint, size: bigint, block: bigint): KernelBlock[] {
  const blocks: KernelBlock[] = [];
  for (let offset = 0n; offset < size; offset += block) {
    blocks.push({ address: address + offset, size: size - offset < block ? size - offset : block });
  }
  return blocks;
}

export class Registrations {
  /** Regions booked by an async registration whose ioctls have not all returned. */
  private readonly pending = new Set<RegionRecord>();
  /** How async registrations were split for the kernel; absent: one block, the region. */
  private readonly kernelBlocks = new Map<RegionRecord, KernelBlock[]>();

  constructor(
    private readonly container: Container,
    private readonly binding: NativeBinding,
    private readonly fd: number,
    private readonly ledger: Ledger,
    private readonly lockedMemory: LockedMemory,
    private readonly processRegistry: ProcessRegistry,
  ) {}

  get pendingCount(): number {
    return this.pending.size;
  }

  isPending(record: RegionRecord): boolean {
    return this.pending.has(record);
  }

  /** Throws while any of `regions` is still being registered. */
  assertSettled(regions: readonly RegionRecord[]): void {
    // Most maps come with no registration in flight: no lookups then.
    if (this.pending.size === 0) return;
    for (const region of regions) {
      if (this.pending.has(region)) {
        throw new NotRegisteredError({
          address: region.address,
          size: region.size,
          missing: region.address,
          registering: true,
        });
      }
    }
  }

  /** A library-owned buffer, or part of it. */
  bufferRequest(buffer: DmaBuffer, options?: RegisterOptions): RegistrationRequest {
    if (!(buffer instanceof DmaBuffer)) {
      throw new InvalidArgumentError(
        'register() takes a DmaBuffer; for memory you own use registerCallerOwnedMemory()',
      );
    }
    buffer.buffer; // throws ClosedError when freed
    const opts = toOptions<RegisterOptions>('options', options);
    const { address, size } = subRange(buffer.address, buffer.bigSize, opts);
    return this.checked(address, size, buffer.backingPageSize, buffer);
  }

  /** Memory the caller owns (a VMM's guest RAM). */
  callerOwnedRequest(
    address: bigint,
    size: bigint | number,
    options?: CallerOwnedMemoryOptions,
  ): RegistrationRequest {
    const at = toAddress('address', address);
    const bytes = toSize('size', size, { min: 1n });
    const opts = toOptions<CallerOwnedMemoryOptions>('options', options);
    const systemPageSize = this.ledger.systemPageSize;
    const backing = toSize(
      'options.backingPageSize',
      orDefault(opts.backingPageSize, systemPageSize),
    );
    if (!isPowerOfTwo(backing) || backing < systemPageSize) {
      throw new ArgumentRangeError(
        `options.backingPageSize must be a power of two of at least ${systemPageSize}`,
      );
    }
    return this.checked(at, bytes, backing, null);
  }

  /** One VFIO_IOMMU_SPAPR_REGISTER_MEMORY of a checked request, then its books. */
  registerNow(request: RegistrationRequest): Region {
    const what = () => `registering ${hex(request.size)} bytes at ${hex(request.address)}`;
    const blocks = [request];
    const charged = this.processRegistry.book(request, blocks);
    try {
      this.lockedMemory.assertFits(charged, what, charged);
      callNative(
        what,
        () => this.binding.registerMemory(this.fd, request.address, request.size),
        (native) => classifyRegistrationFailure(native, request.address, request.size),
      );
    } catch (error) {
      this.processRegistry.unbook(blocks);
      throw error;
    }
    this.processRegistry.confirm(request);
    return this.record(request);
  }

  /** The same in blocks on the libuv pool; the range is booked before the first ioctl. */
  async registerInBackground(
    request: RegistrationRequest,
    options?: AsyncRegisterOptions,
  ): Promise<Region> {
    const { signal, onProgress } = asyncOptions(options);
    const what = `registering ${hex(request.size)} bytes at ${hex(request.address)}`;
    if (signal?.aborted) throw new AbortError(what, signal.reason);
    const blocks = splitRange(
      request.address,
      request.size,
      blockSizeFor(request.backingPageSize, request.size),
    );
    // Every block is booked before the first ioctl, so nothing else can claim the range.
    const charged = this.processRegistry.book(request, blocks);
    try {
      this.lockedMemory.assertFits(charged, what, charged);
    } catch (error) {
      this.processRegistry.unbook(blocks);
      throw error;
    }
    const region = this.record(request);
    const record = region.record;
    this.pending.add(record);
    const done: KernelBlock[] = [];
    this.kernelBlocks.set(record, done);
    let registered = 0n;
    try {
      for (const block of blocks) {
        if (signal?.aborted) throw new AbortError(what, signal.reason);
        await callNativeAsync(
          `registering ${hex(block.size)} bytes at ${hex(block.address)} (of ${hex(request.size)} at ${hex(request.address)})`,
          () => this.binding.registerMemoryAsync(this.fd, block.address, block.size),
          (native) => classifyRegistrationFailure(native, block.address, block.size),
        );
        this.processRegistry.confirm(block);
        done.push(block);
        registered += block.size;
        onProgress?.({ done: registered, total: request.size });
      }
    } catch (error) {
      this.processRegistry.unbook(blocks.slice(done.length));
      this.releaseBlocks(done);
      this.pending.delete(record);
      this.forget(record);
      throw error;
    }
    this.pending.delete(record);
    return region;
  }

  /** VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY of exactly a registered region with no live mappings. */
  unregister(region: Region): void {
    const record = this.own(region);
    if (this.pending.has(record)) {
      throw new OperationPendingError({ operation: 'unregister() of this region', pending: 1 });
    }
    this.ledger.checkUnregister(record.address, record.size);
    this.releaseBlocks(this.kernelBlocks.get(record) ?? [record]);
    this.forget(record);
  }

  /** Registered regions whose registration has completed. */
  list(): Region[] {
    return this.ledger
      .regions()
      .filter((r) => !this.pending.has(r))
      .map((r) => r.handle as Region);
  }

  /** The books' record of a live region of this container. */
  own(region: Region): RegionRecord {
    if (
      !(region instanceof Region) ||
      region.container !== this.container ||
      region.record.handle !== region
    ) {
      const { address, size } =
        region instanceof Region ? region.record : { address: 0n, size: 0n };
      throw new RegionNotFoundError({ address, size, staleHandle: true });
    }
    return region.record;
  }

  /** Every region's handle stops being live: the kernel released them all. */
  releaseAll(): void {
    for (const record of this.ledger.regions()) {
      this.processRegistry.unbook(this.kernelBlocks.get(record) ?? [record]);
      releaseRegionHandle(record);
    }
    this.kernelBlocks.clear();
  }

  private checked(
    address: bigint,
    size: bigint,
    backingPageSize: bigint,
    buffer: DmaBuffer | null,
  ): RegistrationRequest {
    const { first, limit } = this.ledger.checkRegister(address, size);
    assertRegistrationWillReturn(backingPageSize, this.ledger.systemPageSize);
    assertRegistrationFitsMemory(size, machineMemory());
    return { address, size, first, limit, backingPageSize, buffer };
  }

  private record(request: RegistrationRequest): Region {
    const { backingPageSize, buffer } = request;
    const record = this.ledger.commitRegister(request, backingPageSize, buffer);
    const region = new Region(this.container, record, buffer);
    record.handle = region;
    buffer?.hold();
    return region;
  }

  /** Unregisters the kernel blocks of a region (one for register(), several for the async form). */
  private releaseBlocks(blocks: readonly KernelBlock[]): void {
    for (const block of blocks) {
      callNative(
        () => `unregistering ${hex(block.size)} bytes at ${hex(block.address)}`,
        () => this.binding.unregisterMemory(this.fd, block.address, block.size),
      );
      this.processRegistry.unbook([block]);
    }
  }

  private forget(record: RegionRecord): void {
    this.ledger.commitUnregister(record);
    this.kernelBlocks.delete(record);
    releaseRegionHandle(record);
  }
}

function asyncOptions(options: AsyncRegisterOptions | undefined): AsyncRegisterOptions {
  const { signal, onProgress } = toOptions<AsyncRegisterOptions>('options', options);
  if (signal !== undefined && typeof (signal as { aborted?: unknown })?.aborted !== 'boolean') {
    throw new InvalidArgumentError('options.signal must be an AbortSignal');
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new InvalidArgumentError('options.onProgress must be a function');
  }
  return { signal, onProgress };
}

/** The region's handle stops being live and lets go of its buffer. */
function releaseRegionHandle(record: RegionRecord): void {
  const region = record.handle as Region | null;
  record.handle = null;
  region?.buffer?.release();
}
