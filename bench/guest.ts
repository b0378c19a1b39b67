// The guest half of `npm run bench` (scripts/bench.js boots the emulated POWER8 and runs
// this as `node dist/bench/guest.js bench/vfio-bench`): times the library and the C
// reference (bench/c/vfio-bench.c, a co-process on its own container and edu group) on the
// same operations and sizes, interleaving their rounds so that noise hits both, then prints
// one line `VFIO_BENCH_RESULT {json}` for the host to read.
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { Container, DmaBuffer, Sysfs, type Mapping, type Region } from '../lib';
import { nativeBinding } from '../lib/binding';
import { GuestTceSubject, TCE_BATCH, type GuestTceOp } from './guest-tce';

const MARKER = 'VFIO_BENCH_RESULT';
/** A C round of at least this long decides how many operations a round does. */
const TARGET_ROUND_NS = 40_000_000;
const MAX_OPS = 20_000;
/**
 * Rounds per case. Under emulation single rounds vary several-fold (pauses of 10 to 20 ms hit
 * either side): with 5 to 9 rounds the medians of the same code moved by up to 13% between runs.
 */
const ROUNDS = 25;
/** Pages per round in the batch comparison (one 4K mapping each). */
const BATCH_PAGES = 512;

type Kind = 'map' | 'register' | 'none';
type Op = 'noop' | 'map' | 'mapn' | 'mapscatter' | 'unmapn' | 'mapwhole' | 'register' | 'window';
/** What the library side can run: the C reference's operations, and variants of them. */
type LibraryOp = Op | 'map-binding' | 'register-binding' | 'mapn-batch' | GuestTceOp;

/** A library side of a case: the container's API, or the guest IOMMU's (guest-tce.ts). */
interface Subject {
  prepare(kind: Kind, size: number): void;
  release(): void;
  run(op: LibraryOp, ops: number): number;
}

interface Case {
  id: string;
  label: string;
  kind: Kind;
  size: number;
  op: Op;
  /** Fixed operations per round (no calibration). */
  ops?: number;
}

interface Round {
  libNs: number;
  cNs: number;
}

export interface CaseResult {
  id: string;
  label: string;
  size: number;
  ops: number;
  rounds: Round[];
  /** What the `c` side was when it is not the C reference (e.g. 'raw binding'). */
  baseline?: string;
  /** Per operation, over the rounds. */
  libNsPerOp: Stats;
  cNsPerOp: Stats;
  ratio: Stats;
}

export interface Stats {
  min: number;
  median: number;
  max: number;
}

function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { min: sorted[0], median, max: sorted[sorted.length - 1] };
}

const MiB = 1 << 20;

/** The C reference as a co-process: one command line in, one answer line out. */
class CReference {
  private pending = '';
  private readonly waiting: ((line: string) => void)[] = [];
  private readonly lines: string[] = [];

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      this.pending += chunk;
      let newline: number;
      while ((newline = this.pending.indexOf('\n')) >= 0) {
        const line = this.pending.slice(0, newline);
        this.pending = this.pending.slice(newline + 1);
        const waiter = this.waiting.shift();
        if (waiter) waiter(line);
        else this.lines.push(line);
      }
    });
    child.stderr.pipe(process.stderr);
  }

  /** On `cpu` when given (the CPU the library's thread is pinned to), through taskset. */
  static async start(binary: string, group: number, cpu: number | null): Promise<CReference> {
    const child =
      cpu === null
        ? spawn(binary, [String(group)])
        : spawn('taskset', ['-c', String(cpu), binary, String(group)]);
    const c = new CReference(child);
    const hello = await c.next();
    if (hello !== 'ready') throw new Error(`C reference: ${hello}`);
    return c;
  }

  async command(line: string): Promise<string> {
    this.child.stdin.write(`${line}\n`);
    const answer = await this.next();
    if (answer.startsWith('error')) throw new Error(`C reference: ${line}: ${answer}`);
    return answer;
  }

  async run(op: Op, ops: number): Promise<number> {
    const answer = await this.command(`run ${op} ${ops}`);
    return Number(answer.split(' ')[1]);
  }

  close(): void {
    this.child.stdin.end();
  }

  private next(): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    return new Promise((resolve, reject) => {
      this.waiting.push(resolve);
      this.child.once('exit', (code) => reject(new Error(`C reference exited with ${code}`)));
    });
  }
}

/** The library doing what the C reference does, through the public API. */
class LibrarySubject implements Subject {
  private buffer: DmaBuffer | null = null;
  private region: Region | null = null;
  private size = 0n;
  private readonly binding = nativeBinding();

  constructor(readonly container: Container) {}

  prepare(kind: Kind, size: number): void {
    if (kind === 'none') return;
    const page = this.binding.pageSize();
    this.buffer = DmaBuffer.allocate(Math.ceil(size / page) * page);
    this.buffer.bytes().fill(0);
    this.size = BigInt(size);
    if (kind === 'map') this.region = this.container.register(this.buffer);
  }

  release(): void {
    this.region?.unregister();
    this.buffer?.free();
    this.region = null;
    this.buffer = null;
  }

  /** Nanoseconds for `ops` operations; the '-binding' variants bypass the library's layers. */
  run(op: LibraryOp, ops: number): number {
    const container = this.container;
    const region = this.region as Region;
    const size = this.size;
    const start = process.hrtime.bigint();
    switch (op) {
      case 'noop': {
        const { fd } = container;
        const v2 = this.binding.constants.VFIO_SPAPR_TCE_v2_IOMMU;
        for (let i = 0; i < ops; i += 1) this.binding.checkExtension(fd, v2);
        break;
      }
      case 'map':
        for (let i = 0; i < ops; i += 1) container.map(region, 0n, { size }).unmap();
        break;
      case 'map-binding': {
        const { fd } = container;
        const { address } = region;
        for (let i = 0; i < ops; i += 1) {
          this.binding.mapDma(fd, address, 0n, size, 3);
          this.binding.unmapDma(fd, 0n, size);
        }
        break;
      }
      case 'mapn':
      case 'mapn-batch': {
        let mappings: Mapping[];
        if (op === 'mapn') {
          mappings = [];
          for (let i = 0; i < ops; i += 1) {
            mappings.push(
              container.map(region, BigInt(i * 4096), { offset: i * 4096, size: 4096 }),
            );
          }
        } else {
          const entries = [];
          for (let i = 0; i < ops; i += 1) {
            entries.push({ source: region, iova: BigInt(i * 4096), offset: i * 4096, size: 4096 });
          }
          mappings = container.mapMany(entries);
        }
        const elapsed = process.hrtime.bigint() - start;
        for (const mapping of mappings) mapping.unmap();
        return Number(elapsed);
      }
      case 'register': {
        const buffer = this.buffer as DmaBuffer;
        for (let i = 0; i < ops; i += 1) container.register(buffer).unregister();
        break;
      }
      case 'register-binding': {
        const { fd } = container;
        const { address } = this.buffer as DmaBuffer;
        for (let i = 0; i < ops; i += 1) {
          this.binding.registerMemory(fd, address, size);
          this.binding.unregisterMemory(fd, address, size);
        }
        break;
      }
      case 'window':
        for (let i = 0; i < ops; i += 1) {
          container.removeWindow(
            container.createWindow({ pageSize: 65536, size: 2 ** 32, levels: 1 }),
          );
        }
        break;
    }
    return Number(process.hrtime.bigint() - start);
  }
}

const CASES: Case[] = [
  {
    id: 'noop',
    label: 'CHECK_EXTENSION (binding cost)',
    kind: 'none',
    size: 0,
    op: 'noop',
  },
  { id: 'map-4k', label: 'map+unmap 4 KiB', kind: 'map', size: 4096, op: 'map' },
  { id: 'map-64k', label: 'map+unmap 64 KiB', kind: 'map', size: 64 * 1024, op: 'map' },
  { id: 'map-1m', label: 'map+unmap 1 MiB', kind: 'map', size: MiB, op: 'map' },
  { id: 'map-16m', label: 'map+unmap 16 MiB', kind: 'map', size: 16 * MiB, op: 'map' },
  {
    id: 'reg-1m',
    label: 'register+unregister 1 MiB',
    kind: 'register',
    size: MiB,
    op: 'register',
  },
  {
    id: 'reg-64m',
    label: 'register+unregister 64 MiB',
    kind: 'register',
    size: 64 * MiB,
    op: 'register',
  },
  {
    id: 'reg-512m',
    label: 'register+unregister 512 MiB',
    kind: 'register',
    size: 512 * MiB,
    op: 'register',
  },
  {
    id: 'window',
    label: 'create+remove window (64K pages, 4 GiB)',
    kind: 'none',
    size: 0,
    op: 'window',
  },
];

function caseById(id: string): Case {
  const found = CASES.find((spec) => spec.id === id);
  if (!found) throw new Error(`no bench case ${id}`);
  return found;
}

function perOp(ns: number, ops: number): string {
  const v = ns / ops;
  return v >= 1e6 ? `${(v / 1e6).toFixed(2)} ms` : `${(v / 1e3).toFixed(1)} us`;
}

async function calibrate(c: CReference, op: Op): Promise<number> {
  let ops = 1;
  for (;;) {
    const ns = await c.run(op, ops);
    if (ns >= TARGET_ROUND_NS || ops >= MAX_OPS) return ops;
    ops = Math.min(
      MAX_OPS,
      Math.max(ops * 2, Math.ceil((ops * TARGET_ROUND_NS) / Math.max(ns, 1))),
    );
  }
}

async function runCase(
  lib: Subject,
  c: CReference,
  spec: Case,
  libOp: LibraryOp = spec.op,
  cOp: Op = spec.op,
): Promise<CaseResult> {
  lib.prepare(spec.kind, spec.size);
  await c.command(`prepare ${spec.kind} ${spec.size}`);
  try {
    const ops = spec.ops ?? (await calibrate(c, cOp));
    // Warm-up (JIT, the lazy default window, caches): not counted.
    lib.run(libOp, ops);
    await c.run(cOp, ops);
    const rounds: Round[] = [];
    for (let r = 0; r < ROUNDS; r += 1) {
      let libNs: number;
      let cNs: number;
      // Alternate which side goes first, so that a drift favours neither.
      if (r % 2 === 0) {
        libNs = lib.run(libOp, ops);
        cNs = await c.run(cOp, ops);
      } else {
        cNs = await c.run(cOp, ops);
        libNs = lib.run(libOp, ops);
      }
      rounds.push({ libNs, cNs });
      console.log(
        `bench: ${spec.label}: round ${r + 1}/${ROUNDS}, ${ops} ops: library ${perOp(libNs, ops)}/op, ` +
          `C ${perOp(cNs, ops)}/op, ratio ${(libNs / cNs).toFixed(3)}`,
      );
    }
    return {
      id: spec.id,
      label: spec.label,
      size: spec.size,
      ops,
      rounds,
      libNsPerOp: stats(rounds.map((x) => x.libNs / ops)),
      cNsPerOp: stats(rounds.map((x) => x.cNs / ops)),
      ratio: stats(rounds.map((x) => x.libNs / x.cNs)),
    };
  } finally {
    lib.release();
    await c.command('release');
  }
}

/**
 * A guest's TCE hypercalls: the library's guest tables against the C reference doing what QEMU
 * does (one MAP or UNMAP per TCE), and one put + one clear against the raw binding's MAP and
 * UNMAP of the same page, interleaved in the same rounds.
 */
async function guestTceCases(
  container: Container,
  c: CReference,
  wanted: (id: string) => boolean,
): Promise<CaseResult[]> {
  const batch = { kind: 'map' as const, size: TCE_BATCH * 4096, ops: TCE_BATCH };
  const specs: [Case, GuestTceOp][] = [
    [
      {
        id: 'tce-scatter',
        label: `guest put of ${TCE_BATCH} scattered 4K TCEs (per entry)`,
        op: 'mapscatter',
        ...batch,
      },
      'tce-scatter',
    ],
    [
      {
        id: 'tce-scatter-binding',
        label: `${TCE_BATCH} scattered 4K MAPs through the raw binding's batch call (no library)`,
        op: 'mapscatter',
        ...batch,
      },
      'scatter-binding',
    ],
    [
      {
        id: 'tce-contig',
        label: `guest put of ${TCE_BATCH} contiguous 4K TCEs (per entry)`,
        op: 'mapn',
        ...batch,
      },
      'tce-contig',
    ],
    [
      {
        id: 'tce-contig-floor',
        label: `guest put of ${TCE_BATCH} contiguous 4K TCEs, against one MAP of them in C (the kernel's floor)`,
        op: 'mapwhole',
        ...batch,
      },
      'tce-contig',
    ],
    [
      {
        id: 'tce-clear',
        label: `guest clear (H_STUFF_TCE) of ${TCE_BATCH} entries (per entry)`,
        op: 'unmapn',
        ...batch,
      },
      'tce-clear',
    ],
    [
      {
        id: 'tce-putclear',
        label: 'guest put + clear of one 4K TCE',
        kind: 'map',
        size: 4096,
        op: 'map',
      },
      'tce-putclear',
    ],
  ];
  const results: CaseResult[] = [];
  for (const [spec, op] of specs) {
    if (wanted(spec.id)) results.push(await runCase(new GuestTceSubject(container), c, spec, op));
  }
  if (wanted('tce-putclear-binding')) {
    const subject = new GuestTceSubject(container);
    subject.prepare();
    try {
      results.push(
        interleaved(subject, 'tce-putclear', 'map-binding-4k', 2000, {
          id: 'tce-putclear-binding',
          label: 'guest put + clear of one 4K TCE, against the raw binding',
          baseline: 'raw binding MAP+UNMAP',
        }),
      );
    } finally {
      subject.release();
    }
  }
  return results;
}

/** Two library-side operations in alternating rounds: `op` against `baselineOp`. */
function interleaved(
  subject: Subject,
  op: LibraryOp,
  baselineOp: LibraryOp,
  ops: number,
  what: { id: string; label: string; baseline: string },
): CaseResult {
  subject.run(op, ops);
  subject.run(baselineOp, ops);
  const rounds: Round[] = [];
  for (let r = 0; r < ROUNDS; r += 1) {
    const first = r % 2 === 0;
    const a = first ? subject.run(op, ops) : 0;
    const cNs = subject.run(baselineOp, ops);
    const libNs = first ? a : subject.run(op, ops);
    rounds.push({ libNs, cNs });
    console.log(
      `bench: ${what.label}: round ${r + 1}/${ROUNDS}: ${perOp(libNs, ops)}/op, ` +
        `${what.baseline} ${perOp(cNs, ops)}/op, ratio ${(libNs / cNs).toFixed(3)}`,
    );
  }
  return {
    ...what,
    size: 4096,
    ops,
    rounds,
    libNsPerOp: stats(rounds.map((x) => x.libNs / ops)),
    cNsPerOp: stats(rounds.map((x) => x.cNs / ops)),
    ratio: stats(rounds.map((x) => x.libNs / x.cNs)),
  };
}

/** Watches the event loop with a 1 ms timer; stop() gives the longest gap between its runs. */
function watchEventLoop(): { stop(): { maxGapMs: number; ticks: number } } {
  let last = process.hrtime.bigint();
  let maxGap = 0n;
  let ticks = 0;
  const tick = () => {
    const now = process.hrtime.bigint();
    if (now - last > maxGap) maxGap = now - last;
    last = now;
    ticks += 1;
    timer = setTimeout(tick, 1);
  };
  let timer = setTimeout(tick, 1);
  return {
    stop() {
      clearTimeout(timer);
      // The gap still open at the end counts too.
      const now = process.hrtime.bigint();
      if (now - last > maxGap) maxGap = now - last;
      return { maxGapMs: Number(maxGap) / 1e6, ticks };
    },
  };
}

/**
 * The longest the event loop went without running a 1 ms timer during registerAsync, against
 * the same watch over the same time with nothing registering (the emulator's own pauses: the
 * baseline of the same run), and the time a blocking register() of the same size takes.
 */
async function eventLoopStall(container: Container, size: number, repeats: number) {
  const buffer = DmaBuffer.allocate(size);
  buffer.bytes().fill(0);
  const results: {
    maxGapMs: number;
    ticks: number;
    durationMs: number;
    idleMaxGapMs: number;
    syncMs: number;
  }[] = [];
  try {
    for (let r = 0; r < repeats; r += 1) {
      const watch = watchEventLoop();
      const start = process.hrtime.bigint();
      const region = await container.registerAsync(buffer);
      const end = process.hrtime.bigint();
      const { maxGapMs, ticks } = watch.stop();
      region.unregister();
      const durationMs = Number(end - start) / 1e6;

      const idle = watchEventLoop();
      await new Promise((resolve) => setTimeout(resolve, durationMs));
      const idleMaxGapMs = idle.stop().maxGapMs;

      const syncStart = process.hrtime.bigint();
      container.register(buffer).unregister();
      const syncMs = Number(process.hrtime.bigint() - syncStart) / 1e6;

      const result = { maxGapMs, ticks, durationMs, idleMaxGapMs, syncMs };
      results.push(result);
      console.log(
        `bench: registerAsync ${size / MiB} MiB: ${durationMs.toFixed(0)} ms, ${ticks} timer ` +
          `ticks, longest gap ${maxGapMs.toFixed(1)} ms (idle, same time: ` +
          `${idleMaxGapMs.toFixed(1)} ms; a blocking register(): ${syncMs.toFixed(0)} ms)`,
      );
    }
  } finally {
    buffer.free();
  }
  const median = (values: number[]) => stats(values).median;
  // The process's first registerAsync also starts libuv's thread pool and compiles the
  // async path: reported on its own, the target is judged on the runs after it.
  const [cold, ...warm] = results;
  return {
    size,
    blockSize: 16 * MiB,
    cold,
    repeats: warm,
    maxGapMs: Math.max(...warm.map((x) => x.maxGapMs)),
    medianGapMs: median(warm.map((x) => x.maxGapMs)),
    idleMaxGapMs: Math.max(...warm.map((x) => x.idleMaxGapMs)),
    medianIdleGapMs: median(warm.map((x) => x.idleMaxGapMs)),
    medianSyncMs: median(warm.map((x) => x.syncMs)),
  };
}

/**
 * Pins this process's main thread (V8's and libuv's helper threads stay free) to one CPU with
 * taskset; false when there is no taskset. Measured on the emulated POWER8: the C reference's
 * map+unmap of 16 MiB, its affinity switched between the two vCPUs every round, took 4.7 to
 * 5.0 ms on one and 7.2 to 8.0 ms on the other, and which one was slow changed every few
 * seconds. Unpinned, the medians followed it: library 4.4 ms and C 7.3 ms for 18 rounds, then
 * 7.1 ms and 4.6 ms.
 */
function pinMainThread(cpu: string): boolean {
  try {
    execFileSync('taskset', ['-p', '-c', cpu, String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function cpuModel(): string {
  const text = fs.readFileSync('/proc/cpuinfo', 'utf8');
  return /^cpu\s*:\s*(.+)$/m.exec(text)?.[1].trim() ?? os.cpus()[0]?.model ?? 'unknown';
}

async function main(): Promise<void> {
  const binary = process.argv[2] ?? 'bench/vfio-bench';
  const only = process.argv[3]?.split(',');
  const edu = new Sysfs()
    .listIommuGroups()
    .flatMap((g) => g.devices)
    .filter((d) => d.vendor === '1234' && d.device === '11e8' && d.driver === 'vfio-pci');
  if (edu.length < 2) throw new Error('bench needs the two edu devices of the rig on vfio-pci');
  const [libGroup, cGroup] = [edu[0].iommuGroup as number, edu[1].iommuGroup as number];
  // Both sides on the same CPU (the last), the library's thread and the C program, so that
  // neither is measured on a slower one; the event-loop watch below runs unpinned, as users do.
  const cpus = os.cpus().length;
  const pinnedCpu = cpus > 1 && pinMainThread(String(cpus - 1)) ? cpus - 1 : null;
  console.log(
    pinnedCpu === null
      ? 'bench: no taskset (or one CPU): library and C run where the scheduler puts them'
      : `bench: the library's main thread and the C reference pinned to CPU ${pinnedCpu}`,
  );
  const environment = {
    kernel: os.release(),
    pageSize: nativeBinding().pageSize(),
    cpu: cpuModel(),
    cpus: os.cpus().length,
    node: process.version,
    libraryGroup: libGroup,
    cGroup,
    pinnedCpu,
  };
  console.log(`bench: guest ${JSON.stringify(environment)}`);

  const container = Container.open();
  container.addGroup(libGroup);
  container.setIommu('v2');
  const c = await CReference.start(binary, cGroup, pinnedCpu);
  const cases: CaseResult[] = [];
  const wanted = (id: string) => !only || only.includes(id);
  try {
    for (const spec of CASES) {
      if (wanted(spec.id)) cases.push(await runCase(new LibrarySubject(container), c, spec));
    }
    // Where the library's time goes: the same work through the raw binding, in this process.
    const rawBinding: [Case, LibraryOp][] = [
      [{ ...caseById('map-4k'), id: 'map-4k-binding' }, 'map-binding'],
      [{ ...caseById('reg-1m'), id: 'reg-1m-binding' }, 'register-binding'],
    ];
    for (const [spec, libOp] of rawBinding) {
      if (!wanted(spec.id)) continue;
      const raw = { ...spec, label: `${spec.label}, raw binding` };
      cases.push(await runCase(new LibrarySubject(container), c, raw, libOp));
    }
    // The batch form: BATCH_PAGES one-page maps one by one, in one mapMany, and in C.
    const batchSpec: Case = {
      id: 'mapn',
      label: `map ${BATCH_PAGES} x 4 KiB, one by one`,
      kind: 'map',
      size: BATCH_PAGES * 4096,
      op: 'mapn',
      ops: BATCH_PAGES,
    };
    if (wanted('mapn')) cases.push(await runCase(new LibrarySubject(container), c, batchSpec));
    if (wanted('mapn-batch')) {
      cases.push(
        await runCase(
          new LibrarySubject(container),
          c,
          { ...batchSpec, id: 'mapn-batch', label: `map ${BATCH_PAGES} x 4 KiB, mapMany` },
          'mapn-batch',
        ),
      );
    }
    cases.push(...(await guestTceCases(container, c, wanted)));
  } finally {
    c.close();
  }
  const guest = new GuestTceSubject(container);
  guest.prepare();
  const steadyLocked = wanted('tce-locked') ? guest.steadyLocked(100_000) : null;
  guest.release();
  if (steadyLocked)
    console.log(`bench: guest puts and locked memory: ${JSON.stringify(steadyLocked)}`);
  if (pinnedCpu !== null) pinMainThread(`0-${cpus - 1}`);
  const stall = wanted('stall') ? await eventLoopStall(container, 512 * MiB, 6) : null;
  container.close();
  console.log(`${MARKER} ${JSON.stringify({ environment, cases, stall, steadyLocked })}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
