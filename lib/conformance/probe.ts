// What a conformance row measures with: raw containers, groups and memory through the binding
// (no library policy in the way), each one tracked so that whatever the row leaves open is
// closed when it ends: closing a container makes the kernel unmap, unregister and free its
// windows. RLIMIT_MEMLOCK changes are undone too.
import type { NativeBinding, NativeConstants, NativeError } from '../binding';
import { formatBytes } from '../cli/sizes';
import type { HostFacts } from './row';

export const MiB = 1n << 20n;
export const GiB = 1n << 30n;

export interface RawContainer {
  fd: number;
  groups: number[];
}

/** How a raw call ended, in the table's words: '0', '+1' (a positive return), or the errno name. */
export function outcome(call: () => unknown): string {
  try {
    call();
    return '0';
  } catch (error) {
    const native = error as NativeError;
    if (native.returnValue !== undefined && native.returnValue > 0) return `+${native.returnValue}`;
    if (typeof native.code === 'string') return native.code;
    throw error;
  }
}

/** A change of VmLck, as the table writes it: '+8 MiB', '-2 GiB', '+0 B'. */
export function lockedChange(delta: bigint): string {
  return delta < 0n ? `-${formatBytes(-delta)}` : `+${formatBytes(delta)}`;
}

export class Probe {
  readonly c: NativeConstants;
  readonly page: bigint;
  private readonly containers: RawContainer[] = [];
  private readonly buffers: ArrayBuffer[] = [];
  private savedLimit: { soft: bigint; hard: bigint } | null = null;

  constructor(
    readonly b: NativeBinding,
    readonly host: HostFacts,
    /** The IOMMU groups the caller named. */
    readonly groups: readonly number[],
    /** Runs `node child.js ARGS` with extra fds; null where there are no child processes (a fake). */
    readonly spawnChild: ((args: string[], fds: number[]) => string) | null,
  ) {
    this.c = b.constants;
    this.page = host.pageSize;
  }

  /** A container with the groups attached and the IOMMU type set (default: the first group). */
  open(type: 'v1' | 'v2', groups: readonly number[] = [this.groups[0]]): RawContainer {
    const raw: RawContainer = { fd: this.b.openContainer(), groups: [] };
    this.containers.push(raw);
    for (const number of groups) {
      const g = this.b.openGroup(number);
      raw.groups.push(g);
      this.b.groupSetContainer(g, raw.fd);
    }
    const c = this.c;
    this.b.setIommu(raw.fd, type === 'v2' ? c.VFIO_SPAPR_TCE_v2_IOMMU : c.VFIO_SPAPR_TCE_IOMMU);
    return raw;
  }

  v2(groups?: readonly number[]): number {
    return this.open('v2', groups).fd;
  }

  v1(groups?: readonly number[]): number {
    return this.open('v1', groups).fd;
  }

  /** Closes a container before the row ends (its groups first, as the kernel expects). */
  close(fd: number): void {
    const index = this.containers.findIndex((c) => c.fd === fd);
    if (index < 0) return;
    const [raw] = this.containers.splice(index, 1);
    for (const g of raw.groups) this.b.closeFd(g);
    this.b.closeFd(raw.fd);
  }

  /** Page-aligned anonymous memory with every page faulted in; its address. */
  buffer(size: bigint | number): bigint {
    const native = this.b.allocBuffer(Number(size), 'anonymous');
    this.buffers.push(native.buffer);
    new Uint8Array(native.buffer).fill(1);
    return native.address;
  }

  /**
   * Memory that stays mapped until the process exits, for a row whose pin outlives it: freed,
   * its address could come back for a later row, whose registration the kernel would then
   * refuse as an overlap of the pin it still holds.
   */
  bufferUntilExit(size: bigint | number): bigint {
    const native = this.b.allocBuffer(Number(size), 'anonymous');
    new Uint8Array(native.buffer).fill(1);
    return native.address;
  }

  /** Memory that was mapped and is not any more: an address the process does not map. */
  unmappedAddress(): bigint {
    const native = this.b.allocBuffer(Number(this.page), 'anonymous');
    this.b.freeBuffer(native.buffer);
    return native.address;
  }

  locked(): bigint {
    return this.b.vmLockedBytes();
  }

  /** Sets the soft RLIMIT_MEMLOCK to `locked now + headroom` until the row ends. */
  limitLockedTo(headroom: bigint): void {
    const current = this.b.getMemlockLimit();
    this.savedLimit ??= current;
    this.b.setMemlockLimit(this.locked() + headroom, current.hard);
  }

  /** The row is over: containers closed (their groups first), memory freed, the limit restored. */
  dispose(): void {
    for (const raw of this.containers.splice(0).reverse()) {
      for (const g of raw.groups) this.b.closeFd(g);
      this.b.closeFd(raw.fd);
    }
    for (const buffer of this.buffers.splice(0)) this.b.freeBuffer(buffer);
    if (this.savedLimit) this.b.setMemlockLimit(this.savedLimit.soft, this.savedLimit.hard);
    this.savedLimit = null;
  }
}
