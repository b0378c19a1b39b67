// Fuzzes the public API: a random walk over containers, groups, devices, BARs, buffers,
// regions, mappings and windows, where each call gets plausible arguments (so the walk
// reaches deep states: registered, mapped, windows created, groups closed under mappings)
// or hostile ones (hostile.ts), on open and on closed objects, in any order, with async
// registrations racing the rest and, on the fake kernel, phases that run as a forked child.
// Every call must succeed or throw a typed error; a call the books let through that the
// kernel refused is a finding unless only the kernel could have known (kernel-refusals.ts);
// at quiescent points the environment holds each container's books against the kernel.
import {
  Container,
  DmaBuffer,
  ForkedProcessError,
  Group,
  Sysfs,
  TceTableAllocationError,
  parseBdf,
  type Device,
  type Mapping,
  type MmioRegion,
  type Region,
  type Window,
} from '../../lib';
import { type NativeBinding } from '../../lib/binding';
import { hostile } from './hostile';
import { KernelCallRecorder, explain, type KernelRefusal } from './kernel-refusals';
import type { Random } from './random';
import { Tally, describeError, publicErrorCode } from './tally';

/** Whether the kernel has created a container's default window (it does so lazily). */
export type DefaultWindowState = 'pending' | 'created' | 'unknown';

/** The largest buffer the fuzzer allocates on a real kernel (the guest has 2 GiB of RAM). */
const REAL_KERNEL_MAX_BUFFER = 64 * 2 ** 20;

export interface ApiFuzzEnv {
  binding: NativeBinding;
  /** IOMMU groups that exist, with their devices' names. */
  groups: { number: number; devices: string[] }[];
  /**
   * true on the fake kernel. false on a real one: no v1, no device writes, resets or
   * interrupts (a random register write could start a DMA anywhere), windows kept small.
   */
  fake: boolean;
  /** Fake kernel only: simulates fork (true) and the return to the parent (false). */
  fork?: (forked: boolean) => void;
  /**
   * Fake kernel only: the state of each container the kernel has, by fd, to prove that a
   * forked phase changed none of the parent's (the child may open its own).
   */
  kernelState?: () => Map<number, string>;
  /** Checks the books of the open containers against the kernel; a problem, or null. */
  checkBooks?: (
    containers: readonly Container[],
    defaultWindow: (c: Container) => DefaultWindowState,
    /** Charges the kernel kept after failed window creations (TceTableAllocationError). */
    strandedBytes: bigint,
  ) => string | null;
  /** A sysfs root the fuzzer may write to (a fake tree); undefined: no sysfs writes. */
  sysfsRoot?: string;
  /**
   * The process's locked memory as the kernel counts it (VmLck; the fake's total): what a
   * failed window creation stranded is measured with it, not taken from the library.
   */
  lockedBytes?: () => bigint;
}

interface Op {
  name: string;
  weight: number;
  /** Closes or frees something: not run in a forked phase (the objects are the parent's). */
  closes?: boolean;
  /** Issues requests that are only safe on the fake kernel. */
  fakeOnly?: boolean;
  run: () => unknown;
}

const MAX_CONTAINERS = 3;
/** VFIO_FUZZ_TRACE=1: every call's step and operation on stderr (to find a hang). */
const TRACE = process.env.VFIO_FUZZ_TRACE === '1';

export class ApiFuzzer {
  readonly tally: Tally;
  private readonly containers: Container[] = [];
  private readonly groups: Group[] = [];
  private readonly devices: Device[] = [];
  private readonly bars: MmioRegion[] = [];
  private readonly buffers: DmaBuffer[] = [];
  private readonly regions: Region[] = [];
  private readonly mappings: Mapping[] = [];
  private readonly windows: Window[] = [];
  /**
   * Locked memory the kernel kept after failed window creations (it stays until exit), as
   * measured: the library's own figure is checked against it.
   */
  strandedBytes = 0n;
  /** What the fuzzed library calls: the environment's binding, refusals noted. */
  private readonly recorder: KernelCallRecorder;
  /** The container of the last createWindow call. */
  private windowContainer: Container | undefined;
  /** Operations started, in the walk's order: the step a replay with the seed reaches. */
  private steps = 0;
  private readonly pending: Promise<void>[] = [];
  private readonly defaultWindow = new WeakMap<Container, DefaultWindowState>();
  private readonly page: bigint;
  /** Caller-owned memory for registerCallerOwnedMemory: freed only after every container. */
  private readonly callerMemory: DmaBuffer;
  private forked = false;
  /** Option objects the fuzzer built (and may add to), as opposed to hostile ones. */
  private readonly made = new WeakSet<object>();
  private readonly ops: Op[];
  private readonly totalWeight: number;

  constructor(
    private readonly rng: Random,
    private readonly env: ApiFuzzEnv,
    seed: number,
    name = 'public API',
  ) {
    this.tally = new Tally(name, seed, publicErrorCode);
    this.recorder = new KernelCallRecorder(env.binding, (address, size) => ({
      inLibraryMemory: [...this.buffers, this.callerMemory].some(
        (b) => !b.freed && address >= b.address && address + size <= b.address + BigInt(b.size),
      ),
    }));
    this.page = BigInt(env.binding.pageSize());
    this.callerMemory = DmaBuffer.allocate(this.page * 16n, { binding: env.binding });
    this.ops = this.defineOps().filter((op) => env.fake || !op.fakeOnly);
    this.totalWeight = this.ops.reduce((sum, op) => sum + op.weight, 0);
  }

  async run(calls: number): Promise<Tally> {
    let sinceCheck = 0;
    while (this.tally.calls + this.pending.length < calls) {
      if (this.env.fork && !this.forked && this.rng.chance(0.002)) {
        this.forkedPhase(Math.min(20, calls - this.tally.calls - this.pending.length));
        continue;
      }
      const op = this.chooseOp();
      // A window creation's charge is measured against VmLck: nothing else may move it then.
      if (op.name === 'createWindow' && this.env.lockedBytes) await this.settle();
      this.step(op);
      sinceCheck += 1;
      if (sinceCheck >= 64) {
        sinceCheck = 0;
        await this.quiesce();
      }
    }
    await this.quiesce();
    await this.teardown();
    return this.tally;
  }

  /** Open containers (for environments that check against process-wide state). */
  openContainers(): Container[] {
    return this.containers.filter((c) => !c.closed);
  }

  // --- the walk --------------------------------------------------------------------------

  private chooseOp(): Op {
    let x = this.rng.next() * this.totalWeight;
    for (const op of this.ops) {
      x -= op.weight;
      if (x < 0) return op;
    }
    return this.ops[this.ops.length - 1];
  }

  private step(op: Op): void {
    const step = (this.steps += 1);
    if (TRACE) process.stderr.write(`${step} ${op.name}\n`);
    this.recorder.step = step;
    const lockedBefore = op.name === 'createWindow' ? this.env.lockedBytes?.() : undefined;
    let result: unknown;
    try {
      result = op.run();
    } catch (error) {
      this.tally.error(op.name, error);
      this.noteFailure(op.name);
      if (error instanceof TceTableAllocationError) this.strandedCharge(error, lockedBefore, step);
      this.judgeRefusals(op.name, this.recorder.take(step), error);
      return;
    }
    this.judgeRefusals(op.name, this.recorder.take(step), undefined);
    if (result instanceof Promise) {
      this.pending.push(
        result.then(
          (value: unknown) => {
            this.tally.success();
            this.adopt(value);
            this.judgeRefusals(`${op.name} (async)`, this.recorder.take(step), undefined);
          },
          (error: unknown) => {
            this.tally.error(`${op.name} (async)`, error);
            this.judgeRefusals(`${op.name} (async)`, this.recorder.take(step), error);
          },
        ),
      );
      return;
    }
    this.tally.success();
    this.adopt(result);
  }

  /** Each refusal of a call the books allowed is a finding, unless only the kernel knew. */
  private judgeRefusals(op: string, refusals: KernelRefusal[], error: unknown): void {
    for (const refusal of refusals) {
      const container = this.openContainers().find((c) => c.fd === refusal.args[0]);
      const explained = explain({ refusal, error, container });
      if (explained) {
        this.tally.explained(explained, `${refusal.call} ${refusal.code}`);
        continue;
      }
      this.tally.fail(
        op,
        `the books let ${refusal.call} through and the kernel refused it (${refusal.code}); ` +
          `the library threw ${describeError(error).split(' | ')[0]}`,
        refusal.step,
      );
    }
  }

  /**
   * A failed window creation the library says stranded a charge: VmLck must have risen by it
   * (plus the lazy default window's table, when the kernel created that first).
   */
  private strandedCharge(
    error: TceTableAllocationError,
    lockedBefore: bigint | undefined,
    step: number,
  ): void {
    const rise = lockedBefore === undefined ? undefined : this.env.lockedBytes!() - lockedBefore;
    if (error.strandedBytes === 0n || rise === undefined) {
      this.strandedBytes += error.strandedBytes;
      return;
    }
    const c = this.windowContainer;
    const defaultWindow = c && !c.closed ? c.windows().find((w) => w.isDefault) : undefined;
    const defaultBytes =
      c && defaultWindow && this.windowState(c) !== 'created'
        ? c.windowCost(defaultWindow.pageSize, defaultWindow.size, 1)
        : 0n;
    if (rise === error.strandedBytes + defaultBytes && defaultBytes > 0n) {
      this.defaultWindow.set(c as Container, 'created');
      this.strandedBytes += error.strandedBytes;
      return;
    }
    if (rise !== error.strandedBytes) {
      this.tally.fail(
        'createWindow',
        `the library says ${error.strandedBytes} bytes stayed charged; VmLck rose by ${rise}`,
        step,
      );
    }
    this.strandedBytes += rise;
  }

  /** Keeps what a call returned, to use (and abuse) it later. */
  private adopt(value: unknown): void {
    if (value instanceof Container) this.containers.push(value);
    else if (value instanceof Group) this.groups.push(value);
    else if (value instanceof DmaBuffer) this.buffers.push(value);
    else if (value && typeof value === 'object') {
      const name = value.constructor.name;
      if (name === 'Region') this.regions.push(value as Region);
      else if (name === 'Mapping') this.mappings.push(value as Mapping);
      else if (name === 'Window') this.windows.push(value as Window);
      else if (name === 'Device') this.devices.push(value as Device);
      else if (name === 'MmioRegion') this.bars.push(value as MmioRegion);
      else if (Array.isArray(value)) for (const v of value) this.adopt(v);
    }
    this.prune();
  }

  /** A kernel error on a map or window call leaves the lazy default window's state unknown. */
  private noteFailure(op: string): void {
    if (op === 'map' || op === 'mapMany' || op === 'createWindow' || op === 'unmap') {
      for (const c of this.containers) {
        if (this.defaultWindow.get(c) === 'pending') this.defaultWindow.set(c, 'unknown');
      }
    }
  }

  private prune(): void {
    const cap = <T>(list: T[], max: number) => {
      if (list.length > max) list.splice(0, list.length - max);
    };
    // Open containers and groups are kept (teardown closes them); closed ones make room.
    const dropClosed = (list: { closed: boolean }[], max: number) => {
      while (list.length > max) {
        const i = list.findIndex((x) => x.closed);
        if (i < 0) break;
        list.splice(i, 1);
      }
    };
    dropClosed(this.containers, 8);
    dropClosed(this.groups, 12);
    cap(this.devices, 8);
    cap(this.bars, 8);
    cap(this.regions, 32);
    cap(this.mappings, 48);
    cap(this.windows, 12);
    // Buffers are never dropped while in use: teardown frees each one.
    if (this.buffers.length > 40) {
      const i = this.buffers.findIndex((b) => b.freed);
      if (i >= 0) this.buffers.splice(i, 1);
    }
  }

  /** Waits for every async call (their refusals judged). */
  private async settle(): Promise<void> {
    while (this.pending.length > 0) await Promise.all(this.pending.splice(0));
    // Calls made after their step settled (a failed async registration's clean-up).
    this.judgeRefusals('(settled)', this.recorder.take(), undefined);
  }

  /** Waits for every async call, then holds the books against the kernel. */
  private async quiesce(): Promise<void> {
    await this.settle();
    const problem = this.env.checkBooks?.(
      this.openContainers(),
      (c) => this.windowState(c),
      this.strandedBytes,
    );
    if (problem) this.tally.fail('books', problem);
  }

  private windowState(c: Container): DefaultWindowState {
    return this.defaultWindow.get(c) ?? 'pending';
  }

  /** As a forked child: every call fails typed, and the kernel's state does not change. */
  private forkedPhase(calls: number): void {
    const before = this.env.kernelState?.();
    const changed = (): number | undefined => {
      const now = this.env.kernelState?.();
      for (const [fd, state] of before ?? []) if (now?.get(fd) !== state) return fd;
      return undefined;
    };
    this.forked = true;
    this.env.fork?.(true);
    let refused = 0;
    // What the child opens is its own: never the parent's to use, and gone when it exits.
    // Queries (groups()) may hand the child the parent's objects: those are not its to close.
    const childMade: unknown[] = [];
    const parents = new Set<unknown>([
      ...this.containers,
      ...this.containers.flatMap((c) => c.groups()),
      ...this.groups,
      ...this.buffers,
      this.callerMemory,
    ]);
    try {
      for (let i = 0; i < calls; i += 1) {
        let op = this.chooseOp();
        while (op.closes) op = this.chooseOp();
        this.afterForkedCall = () => {
          const fd = changed();
          if (fd !== undefined) {
            this.tally.fail(op.name, `as a forked child, changed the parent's container fd ${fd}`);
            before?.delete(fd);
          }
        };
        // A child's calls are the kernel's to refuse only where the books could not know.
        const step = (this.recorder.step = this.steps += 1);
        try {
          const result = op.run();
          if (result instanceof Promise) {
            this.pending.push(
              result.then(
                () => this.tally.success(),
                (error: unknown) => this.tally.error(`${op.name} (async, forked)`, error),
              ),
            );
            continue;
          }
          this.tally.success();
          childMade.push(result);
          this.judgeRefusals(`${op.name} (forked)`, this.recorder.take(step), undefined);
        } catch (error) {
          this.tally.error(`${op.name} (forked)`, error);
          this.judgeRefusals(`${op.name} (forked)`, this.recorder.take(step), error);
          if (error instanceof ForkedProcessError) refused += 1;
        }
        this.afterForkedCall();
      }
    } finally {
      this.exitChild(childMade.flat().filter((x) => !parents.has(x)));
      this.env.fork?.(false);
      this.forked = false;
      this.afterForkedCall = () => undefined;
    }
    this.forkRefusals += refused;
  }

  /** The child's exit, as the kernel sees it: everything the child opened is closed. */
  private exitChild(made: unknown[]): void {
    for (const x of [...made].reverse()) {
      try {
        if (x instanceof Container || x instanceof Group) x.close();
      } catch (error) {
        this.tally.fail('child exit', `close failed: ${describeError(error)}`);
      }
    }
    for (const x of made) {
      if (x instanceof DmaBuffer && !x.freed) x.free();
    }
  }

  /** Calls refused with ForkedProcessError in forked phases. */
  forkRefusals = 0;
  private afterForkedCall: () => void = () => undefined;

  private async teardown(): Promise<void> {
    await this.quiesce();
    for (const c of this.containers) {
      try {
        c.close();
      } catch (error) {
        this.tally.fail('teardown', `close failed: ${describeError(error)}`);
      }
    }
    for (const g of this.groups) {
      try {
        g.close();
      } catch (error) {
        this.tally.fail('teardown', `group close failed: ${describeError(error)}`);
      }
    }
    for (const b of [...this.buffers, this.callerMemory]) {
      try {
        b.free();
      } catch (error) {
        this.tally.fail('teardown', `free failed: ${describeError(error)}`);
      }
    }
  }

  // --- argument makers -------------------------------------------------------------------

  /** A plausible value with probability p, else a hostile one. */
  private or<T>(p: number, make: () => T): unknown {
    return this.rng.chance(p) ? make() : hostile(this.rng);
  }

  private some<T>(list: readonly T[]): T | undefined {
    return list.length ? this.rng.pick(list) : undefined;
  }

  /** Mostly an open container; sometimes a closed one. */
  private container(): Container | undefined {
    const open = this.openContainers();
    if (open.length && this.rng.chance(0.95)) return this.rng.pick(open);
    return this.some(this.containers);
  }

  private groupArg(): unknown {
    const r = this.rng.next();
    if (r < 0.5 && this.env.groups.length) return this.rng.pick(this.env.groups).number;
    if (r < 0.7 && this.groups.length) return this.rng.pick(this.groups);
    return hostile(this.rng);
  }

  private bufferArg(): unknown {
    return this.or(0.85, () => this.some(this.buffers) ?? this.callerMemory);
  }

  /** A sub-range of a block: page-aligned mostly, sometimes not, sometimes past its end. */
  private rangeOptions(length: bigint): unknown {
    const r = this.rng.next();
    if (r < 0.4) return undefined;
    if (r < 0.9) {
      const pages = length / this.page;
      const first = BigInt(this.rng.int(Number(pages)));
      const count =
        1n + BigInt(this.rng.int(Number(pages - first) + (this.rng.chance(0.1) ? 2 : 0)));
      const o: Record<string, unknown> = {};
      if (this.rng.chance(0.7))
        o.offset = this.num(first * this.page + (this.rng.chance(0.05) ? 1n : 0n));
      if (this.rng.chance(0.7)) o.size = this.num(count * this.page);
      if (this.rng.chance(0.1)) o.offset = hostile(this.rng);
      if (this.rng.chance(0.1)) o.size = hostile(this.rng);
      this.made.add(o);
      return o;
    }
    return hostile(this.rng);
  }

  /** A bigint or, when it fits, a number: the API takes both for sizes and offsets. */
  private num(value: bigint): bigint | number {
    return this.rng.chance(0.5) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }

  /** An IOVA in one of the container's windows: aligned mostly, near the start (so ranges clash). */
  private iova(c: Container): unknown {
    if (this.rng.chance(0.1)) return hostile(this.rng);
    let windows: Window[] = [];
    try {
      windows = c.windows();
    } catch {
      // closed, or no IOMMU type yet
    }
    const w = this.some(windows);
    if (!w) return this.rng.pick([0n, 0x100000n, 1n << 59n]);
    const r = this.rng.next();
    if (r < 0.8) return w.start + w.pageSize * BigInt(this.rng.int(48));
    if (r < 0.85) return w.end - w.pageSize;
    if (r < 0.9) return w.end;
    if (r < 0.95) return w.start + 4096n + BigInt(this.rng.int(2)) * 512n;
    return w.start - 1n;
  }

  private mapOptions(length: bigint): unknown {
    const o = this.rangeOptions(length);
    if (this.made.has(o as object) && this.rng.chance(0.3)) {
      const opts = o as Record<string, unknown>;
      opts.read = this.or(0.8, () => this.rng.chance(0.7));
      opts.write = this.or(0.8, () => this.rng.chance(0.7));
    }
    return o;
  }

  private mapSource(): { source: unknown; length: bigint } {
    const r = this.rng.next();
    if (r < 0.45 && this.regions.length) {
      const region = this.rng.pick(this.regions);
      return { source: region, length: region.size };
    }
    if (r < 0.9 && this.buffers.length) {
      const buffer = this.rng.pick(this.buffers);
      return { source: buffer, length: BigInt(buffer.size) };
    }
    return { source: hostile(this.rng), length: this.page };
  }

  private windowOptions(): unknown {
    if (this.rng.chance(0.15)) return hostile(this.rng);
    const pageSize = this.rng.pick([4096n, 65536n, 1n << 24n, 1n << 28n, 8192n]);
    const maxShift = this.env.fake ? 40 : 34;
    const shift = BigInt(12 + this.rng.int(maxShift - 12 + 1));
    const o: Record<string, unknown> = {
      pageSize: this.num(pageSize),
      size: this.num(1n << shift),
    };
    if (this.rng.chance(0.5)) o.levels = this.env.fake ? this.rng.int(7) : 1 + this.rng.int(2);
    if (this.rng.chance(0.1)) o[this.rng.pick(['pageSize', 'size', 'levels'])] = hostile(this.rng);
    return o;
  }

  private memlockPlan(): unknown {
    if (this.rng.chance(0.3)) return undefined;
    if (this.rng.chance(0.3)) return hostile(this.rng);
    return Array.from({ length: this.rng.int(3) }, () =>
      this.or(0.7, () => ({
        what: this.or(0.8, () => 'fuzz'),
        bytes: this.or(0.8, () => this.rng.bits(30)),
      })),
    );
  }

  // --- the operations --------------------------------------------------------------------

  private defineOps(): Op[] {
    const env = this.env;
    const rng = this.rng;
    const binding = this.recorder.binding;
    const withContainer = (f: (c: Container) => unknown) => (): unknown => {
      const c = this.container();
      return c ? f(c) : Container.open({ binding });
    };
    const on =
      <T>(list: T[], f: (x: T) => unknown, fallback: () => unknown) =>
      () => {
        const x = this.some(list);
        return x === undefined ? fallback() : f(x);
      };
    const openContainer = (): unknown => {
      if (this.openContainers().length >= MAX_CONTAINERS) return this.container()?.info();
      const c = Container.open(rng.chance(0.97) ? { binding } : (hostile(rng) as never));
      this.defaultWindow.set(c, 'pending');
      return c;
    };
    const hasMapMany = (c: Container): c is Container & { mapMany(entries: unknown): unknown } =>
      typeof (c as unknown as { mapMany?: unknown }).mapMany === 'function';
    const ops: Op[] = [
      { name: 'Container.open', weight: 3, run: openContainer },
      {
        name: 'addGroup',
        weight: 6,
        run: withContainer((c) => c.addGroup(this.groupArg() as number)),
      },
      {
        name: 'setIommu',
        weight: 5,
        run: withContainer((c) => {
          const type = rng.chance(0.85)
            ? env.fake && rng.chance(0.15)
              ? 'v1'
              : rng.pick(['v2', undefined])
            : hostile(rng);
          c.setIommu(type as 'v2');
          this.defaultWindow.set(c, 'pending');
          return undefined;
        }),
      },
      {
        name: 'container queries',
        weight: 4,
        run: withContainer((c) =>
          rng.pick([
            () => c.info(),
            () => c.windows(),
            () => c.extensions(),
            () => c.regions(),
            () => c.mappings(),
            () => c.groups(),
            () => c.iommuType,
            () => c.enabled,
          ])(),
        ),
      },
      {
        name: 'register',
        weight: 10,
        run: withContainer((c) => {
          const buffer = this.bufferArg();
          const length = buffer instanceof DmaBuffer ? BigInt(buffer.size) : this.page;
          return c.register(buffer as DmaBuffer, this.rangeOptions(length) as never);
        }),
      },
      {
        name: 'registerAsync',
        weight: 5,
        run: withContainer((c) => {
          const buffer = this.bufferArg();
          const length = buffer instanceof DmaBuffer ? BigInt(buffer.size) : this.page;
          return c.registerAsync(buffer as DmaBuffer, this.rangeOptions(length) as never);
        }),
      },
      {
        name: 'registerCallerOwnedMemory',
        weight: 3,
        run: withContainer((c) => {
          const base = this.callerMemory.address;
          const pages = BigInt(this.callerMemory.size) / this.page;
          const first = BigInt(rng.int(Number(pages)));
          const address = this.or(0.85, () => base + first * this.page);
          const size = this.or(0.85, () =>
            this.num((1n + BigInt(rng.int(Number(pages - first)))) * this.page),
          );
          const options = rng.chance(0.8)
            ? undefined
            : this.or(0.5, () => ({ backingPageSize: this.or(0.5, () => this.num(this.page)) }));
          return rng.chance(0.3)
            ? c.registerCallerOwnedMemoryAsync(address as bigint, size as bigint, options as never)
            : c.registerCallerOwnedMemory(address as bigint, size as bigint, options as never);
        }),
      },
      {
        name: 'unregister',
        weight: 6,
        run: on(
          this.regions,
          (region) =>
            rng.chance(0.5) ? region.unregister() : this.container()?.unregister(region),
          () => this.container()?.unregister(hostile(rng) as Region),
        ),
      },
      {
        name: 'regionAt',
        weight: 2,
        run: withContainer((c) => {
          const region = this.some(this.regions);
          const address = region && rng.chance(0.7) ? region.address : hostile(rng);
          const size = region && rng.chance(0.7) ? this.num(region.size) : hostile(rng);
          return c.regionAt(address as bigint, size as bigint);
        }),
      },
      {
        name: 'map',
        weight: 14,
        run: withContainer((c) => {
          const { source, length } = this.mapSource();
          const mapping = c.map(
            source as DmaBuffer,
            this.iova(c) as bigint,
            this.mapOptions(length) as never,
          );
          this.defaultWindow.set(c, 'created');
          return mapping;
        }),
      },
      {
        name: 'mapMany',
        weight: 3,
        run: withContainer((c) => {
          if (!hasMapMany(c)) return (c as Container).mappings();
          const entries = rng.chance(0.9)
            ? Array.from({ length: rng.int(4) }, () => {
                const { source, length } = this.mapSource();
                const o = this.mapOptions(length);
                return this.or(0.9, () => ({
                  ...(o && typeof o === 'object' ? o : {}),
                  source,
                  iova: this.iova(c),
                }));
              })
            : hostile(rng);
          const result = c.mapMany(entries as never);
          if (Array.isArray(entries) && entries.length > 0) this.defaultWindow.set(c, 'created');
          return result;
        }),
      },
      {
        name: 'unmap',
        weight: 8,
        run: on(
          this.mappings,
          (m) => (rng.chance(0.5) ? m.unmap() : this.container()?.unmap(m)),
          () => this.container()?.unmap(hostile(rng) as Mapping),
        ),
      },
      {
        name: 'mappingAt',
        weight: 2,
        run: withContainer((c) => {
          const m = this.some(this.mappings);
          const iova = m && rng.chance(0.7) ? m.iova : this.iova(c);
          const size = m && rng.chance(0.7) ? this.num(m.size) : hostile(rng);
          return c.mappingAt(iova as bigint, size as bigint);
        }),
      },
      {
        name: 'translate',
        weight: 4,
        run: withContainer((c) => c.translate(this.iova(c) as bigint)),
      },
      {
        name: 'createWindow',
        weight: 3,
        run: withContainer((c) => {
          this.windowContainer = c;
          const w = c.createWindow(this.windowOptions() as never);
          this.defaultWindow.set(c, 'created');
          return w;
        }),
      },
      {
        name: 'removeWindow',
        weight: 2,
        run: on(
          this.windows,
          (w) => (rng.chance(0.5) ? w.remove() : this.container()?.removeWindow(w)),
          () => {
            const c = this.container();
            const w = c && !c.closed && c.iommuType ? this.some(c.windows()) : undefined;
            return c?.removeWindow((w && rng.chance(0.3) ? w : hostile(rng)) as Window);
          },
        ),
      },
      {
        name: 'enable/disable',
        weight: 2,
        run: withContainer((c) => (rng.chance(0.6) ? c.enable() : c.disable())),
      },
      {
        name: 'eeh',
        weight: 2,
        run: withContainer((c) => {
          const eeh = c.eeh;
          return rng.pick([
            () => eeh.state(),
            () => eeh.injectError(hostile(rng) as never),
            () => eeh.injectError({ type: hostile(rng), func: 0 } as never),
            () => eeh.reset(hostile(rng) as never),
            () => (env.fake ? eeh.enable() : eeh.state()),
            () =>
              env.fake ? eeh.reset(rng.pick(['hot', 'fundamental', 'deactivate'])) : eeh.state(),
            () =>
              env.fake ? eeh.injectError({ type: rng.int(2), func: rng.int(18) }) : eeh.state(),
          ])();
        }),
      },
      {
        name: 'memlock',
        weight: 2,
        run: withContainer((c) =>
          rng.chance(0.5)
            ? c.memlock(this.memlockPlan() as never)
            : c.windowCost(
                this.or(0.7, () => this.num(rng.pick([4096n, 65536n, 3n]))) as bigint,
                this.or(0.7, () => this.num(1n << BigInt(12 + rng.int(40)))) as bigint,
                this.or(0.7, () => rng.int(7)) as number,
              ),
        ),
      },
      {
        name: 'close container',
        weight: 1,
        closes: true,
        run: withContainer((c) =>
          rng.chance(0.8) ? c.close() : (c as unknown as Disposable)[Symbol.dispose]?.(),
        ),
      },
      {
        name: 'Group.open',
        weight: 2,
        run: () =>
          Group.open(
            this.groupArg() as number,
            rng.chance(0.95) ? { binding } : (hostile(rng) as never),
          ),
      },
      {
        name: 'group calls',
        weight: 4,
        run: on(
          this.groups,
          (g) => {
            if (rng.chance(0.5)) return g.status();
            const devices = env.groups.find((x) => x.number === g.number)?.devices ?? [];
            const name = rng.chance(0.7) && devices.length ? rng.pick(devices) : hostile(rng);
            return g.openDevice(name as string);
          },
          () => Group.open(this.groupArg() as number, { binding }),
        ),
      },
      {
        name: 'close group',
        weight: 1,
        closes: true,
        run: on(
          this.groups,
          (g) => g.close(),
          () => undefined,
        ),
      },
      {
        name: 'device reads',
        weight: 4,
        run: on(
          this.devices,
          (d) =>
            rng.pick([
              () => d.info(),
              () => d.region(this.or(0.8, () => rng.int(10)) as number),
              () => d.irqInfo(this.or(0.8, () => rng.int(6)) as number),
              () =>
                d.readConfig(
                  this.or(0.8, () => rng.pick([0, 2, 4, 6, 0x3c, 0xfff, 0x1000, 3])) as number,
                  this.or(0.8, () => rng.pick([8, 16, 32, 64])) as 32,
                ),
              () =>
                d.mapRegion(
                  this.or(0.8, () => rng.pick([0, 0, 1, 7])) as number,
                  this.or(0.7, () => ({
                    endianness: this.or(0.8, () => rng.pick(['big', 'little'])),
                  })) as never,
                ),
            ])(),
          () => undefined,
        ),
      },
      {
        name: 'device writes',
        weight: 2,
        fakeOnly: true,
        run: on(
          this.devices,
          (d) =>
            rng.pick([
              () =>
                d.writeConfig(
                  this.or(0.8, () => rng.pick([0x3c, 4, 0x1000])) as number,
                  this.or(0.8, () => rng.int(256)) as number,
                  this.or(0.8, () => rng.pick([8, 16, 32])) as 32,
                ),
              () => d.reset(),
              () => d.enableBusMaster(),
              () =>
                d.enableInterrupts(
                  this.or(0.8, () => rng.int(3)) as number,
                  this.or(0.6, () => ({ count: this.or(0.7, () => rng.int(3)) })) as never,
                ),
            ])(),
          () => undefined,
        ),
      },
      {
        name: 'close device',
        weight: 1,
        closes: true,
        run: on(
          this.devices,
          (d) => d.close(),
          () => undefined,
        ),
      },
      {
        name: 'MMIO read',
        weight: 3,
        run: on(
          this.bars,
          (bar) => {
            const offset = this.or(0.8, () =>
              rng.pick([0, 4, 8, 0x80, 0x98, bar.size - 8, bar.size, 3]),
            );
            return rng.pick([
              () => bar.read8(offset as number),
              () => bar.read16(offset as number),
              () => bar.read32(offset as number),
              () => bar.read64(offset as number),
            ])();
          },
          () => undefined,
        ),
      },
      {
        name: 'MMIO write',
        weight: 2,
        fakeOnly: true,
        run: on(
          this.bars,
          (bar) => {
            const offset = this.or(0.8, () => rng.pick([0, 4, 8, bar.size - 8, bar.size, 3]));
            const value = this.or(0.8, () => rng.pick([0, 1, 255, 2 ** 32 - 1, 2 ** 32]));
            return rng.pick([
              () => bar.write8(offset as number, value as number),
              () => bar.write32(offset as number, value as number),
              () => bar.write64(offset as number, this.or(0.8, () => rng.bits(64)) as bigint),
            ])();
          },
          () => undefined,
        ),
      },
      {
        name: 'unmap BAR',
        weight: 1,
        closes: true,
        run: on(
          this.bars,
          (bar) => bar.unmap(),
          () => undefined,
        ),
      },
      {
        name: 'DmaBuffer.allocate',
        weight: 5,
        run: () => {
          if (this.buffers.filter((b) => !b.freed).length >= 24)
            return this.some(this.buffers)?.bytes();
          const size = this.or(0.85, () =>
            this.num(this.page * BigInt(1 + rng.int(16)) - BigInt(rng.int(2))),
          );
          // A real kernel pins what gets registered: a hostile but valid size (2^31) would pin
          // more than the guest has, and the OOM killer would end the run (seen on powernv9).
          const sized = typeof size === 'number' || typeof size === 'bigint';
          if (!this.env.fake && sized && size > REAL_KERNEL_MAX_BUFFER) return undefined;
          const options = rng.chance(0.6)
            ? { binding }
            : this.or(0.6, () => ({
                binding,
                backing: this.or(0.8, () => rng.pick(['anonymous', 'shared', 'memfd', 'hugetlb'])),
                ...(rng.chance(0.2)
                  ? { hugePageSize: this.or(0.5, () => rng.pick([2 ** 21, 2 ** 24])) }
                  : {}),
              }));
          return DmaBuffer.allocate(size as number, options as never);
        },
      },
      {
        name: 'buffer calls',
        weight: 3,
        run: on(
          this.buffers,
          (b) =>
            rng.pick([
              () => b.bytes().fill(rng.int(256), 0, 64),
              () => b.buffer.byteLength,
              () => b.inUse,
            ])(),
          () => undefined,
        ),
      },
      {
        name: 'free buffer',
        weight: 3,
        closes: true,
        run: on(
          this.buffers,
          (b) => b.free(),
          () => undefined,
        ),
      },
      {
        name: 'sysfs',
        weight: 1,
        run: () => {
          const bdf = this.or(0.4, () => rng.pick(['0000:01:00.0', '01:00.0', '0001:01:00.0']));
          if (rng.chance(0.5)) return parseBdf(bdf);
          const sysfs = new Sysfs({ root: env.sysfsRoot ?? '/nonexistent-sysfs' });
          return rng.pick([
            () => sysfs.deviceInfo(bdf as string),
            () => sysfs.driverOf(bdf as string),
            () => sysfs.groupOf(bdf as string),
            () =>
              env.sysfsRoot ? sysfs.bindToVfioPci(bdf as string) : sysfs.deviceInfo(bdf as string),
            () =>
              env.sysfsRoot
                ? sysfs.unbindFromVfioPci(
                    bdf as string,
                    this.or(0.5, () => rng.pick([null, 'nvme', '..', '.'])) as string,
                  )
                : sysfs.groupOf(bdf as string),
          ])();
        },
      },
    ];
    return ops;
  }
}
