// The host half of `npm run bench`: the ledger's cost per operation with 10, 1,000 and
// 100,000 live regions and mappings, to show how it grows (the books are B-trees: the cost
// must stay logarithmic). Pure bookkeeping, no kernel: runs anywhere.
//
//   node dist/bench/ledger.js     prints progress, then `VFIO_LEDGER_RESULT {json}`
import { Ledger, type MappingRecord } from '../lib/ledger';

const MARKER = 'VFIO_LEDGER_RESULT';
const PAGE = 4096n;
const BASE = 0x7f0000000000n;
const SIZES = [10, 1_000, 100_000];
/** Timed operations per repeat, and repeats (the median is kept). */
const OPERATIONS = 50_000;
const REPEATS = 7;

export const LEDGER_OPS = [
  'register check',
  'register check+commit, unregister check+commit',
  'map check',
  'map check+commit, unmap find+commit',
  'translate',
] as const;
export type LedgerOp = (typeof LEDGER_OPS)[number];
/**
 * The baseline of the same run: a JS Map lookup of the same records at the same places. A
 * hash table does not grow with its size; what it shows growing is the memory (caches, TLB).
 */
export const BASELINE_OP = 'baseline: Map.get of the same records';

/**
 * N live one-page regions two pages apart (region i at BASE + 2i pages) and N live
 * one-page mappings (mapping i at IOVA 2i pages, of region i), in one window.
 */
function populate(n: number): { ledger: Ledger; mappings: MappingRecord[] } {
  const ledger = new Ledger(PAGE, true);
  const window = ledger.commitWindow(0n, 1n << 40n, PAGE, 1, true);
  const mappings: MappingRecord[] = [];
  for (let i = 0; i < n; i += 1) {
    const address = BASE + BigInt(2 * i) * PAGE;
    ledger.commitRegister(ledger.checkRegister(address, PAGE), PAGE, null);
    const plan = ledger.checkMap({
      address,
      iova: BigInt(2 * i) * PAGE,
      size: PAGE,
      readable: true,
      writable: true,
      owner: null,
    });
    mappings.push(ledger.commitMap(plan));
  }
  if (ledger.regionCount() !== n || window.mappings.size !== n) throw new Error('populate');
  return { ledger, mappings };
}

export type Access = 'random' | 'ascending';

/**
 * The places the operations touch: a fixed pseudo-random sequence of indexes in [0, n)
 * (the worst case for the caches: with 100,000 entries most tree nodes are cold), or
 * ascending ones (neighbours share nodes: the tree's own, logarithmic, cost).
 */
function indexes(n: number, count: number, access: Access): Uint32Array {
  const out = new Uint32Array(count);
  if (access === 'ascending') {
    for (let i = 0; i < count; i += 1) out[i] = Math.floor((i * n) / count);
    return out;
  }
  let x = 0x9e3779b9;
  for (let i = 0; i < count; i += 1) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = (x >>> 0) % n;
  }
  return out;
}

/**
 * Nanoseconds per operation, each timed over OPERATIONS iterations at pseudo-random places.
 * The live count stays N: a register (or map) into a gap is undone in the same iteration,
 * so those two are measured as a pair; the checks and translate change nothing.
 */
function measure(n: number, access: Access): Record<LedgerOp | typeof BASELINE_OP, number> {
  const { ledger, mappings } = populate(n);
  const byFirst = new Map(mappings.map((m) => [m.first, m]));
  // The previous repeat's 100,000-entry ledger is garbage now: collect it before timing, or
  // its major GC lands inside this repeat's operations and is counted as the tree's cost.
  collectGarbage();
  const order = indexes(n, OPERATIONS, access);
  const gapAddress = (k: number) => BASE + BigInt(2 * order[k] + 1) * PAGE;
  const gapIova = (k: number) => BigInt(2 * order[k] + 1) * PAGE;
  const mapRequest = (k: number) => ({
    address: BASE + BigInt(2 * order[k]) * PAGE,
    iova: gapIova(k),
    size: PAGE,
    readable: true,
    writable: true,
    owner: null,
  });
  const time = (body: (k: number) => void): number => {
    const start = process.hrtime.bigint();
    for (let k = 0; k < OPERATIONS; k += 1) body(k);
    return Number(process.hrtime.bigint() - start) / OPERATIONS;
  };
  return {
    'register check': time((k) => ledger.checkRegister(gapAddress(k), PAGE)),
    'register check+commit, unregister check+commit': time((k) => {
      const address = gapAddress(k);
      ledger.commitRegister(ledger.checkRegister(address, PAGE), PAGE, null);
      ledger.commitUnregister(ledger.checkUnregister(address, PAGE));
    }),
    'map check': time((k) => ledger.checkMap(mapRequest(k))),
    'map check+commit, unmap find+commit': time((k) => {
      ledger.commitMap(ledger.checkMap(mapRequest(k)));
      ledger.commitUnmap(ledger.mappingExactly(gapIova(k), PAGE));
    }),
    translate: time((k) => {
      if (!ledger.translate(mappings[order[k]].iova + 64n)) throw new Error('translate');
    }),
    [BASELINE_OP]: time((k) => {
      if (byFirst.get(2 * order[k])?.iova === undefined) throw new Error('baseline');
    }),
  };
}

/** A full GC when node runs with --expose-gc (scripts/bench.js passes it). */
function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc: the timings must not include old GCs');
  gc();
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export interface LedgerAccessResult {
  /** Median ns per operation, by operation, one value per size. */
  nsPerOp: Record<LedgerOp, number[]>;
  /** Cost at the largest size over the cost at the smallest, by operation. */
  growth: Record<LedgerOp, number>;
  baseline: { nsPerOp: number[]; growth: number };
}

export interface LedgerResult {
  sizes: number[];
  random: LedgerAccessResult;
  ascending: LedgerAccessResult;
  node: string;
}

function run(access: Access): LedgerAccessResult {
  const nsPerOp = Object.fromEntries(LEDGER_OPS.map((op) => [op, [] as number[]])) as Record<
    LedgerOp,
    number[]
  >;
  const baseline: number[] = [];
  for (const n of SIZES) {
    const runs: Record<LedgerOp | typeof BASELINE_OP, number>[] = [];
    for (let r = 0; r < REPEATS; r += 1) runs.push(measure(n, access));
    for (const op of LEDGER_OPS) nsPerOp[op].push(median(runs.map((x) => x[op])));
    baseline.push(median(runs.map((x) => x[BASELINE_OP])));
    console.log(
      `ledger: ${access} access, ${n} live regions and mappings: ` +
        LEDGER_OPS.map((op) => `${op} ${nsPerOp[op][nsPerOp[op].length - 1].toFixed(0)} ns`).join(
          '; ',
        ) +
        `; ${BASELINE_OP} ${baseline[baseline.length - 1].toFixed(0)} ns`,
    );
  }
  const growthOf = (values: number[]) => values[SIZES.length - 1] / values[0];
  const growth = Object.fromEntries(LEDGER_OPS.map((op) => [op, growthOf(nsPerOp[op])])) as Record<
    LedgerOp,
    number
  >;
  return { nsPerOp, growth, baseline: { nsPerOp: baseline, growth: growthOf(baseline) } };
}

function main(): void {
  measure(1_000, 'random'); // warm-up: JIT
  const random = run('random');
  const ascending = run('ascending');
  const result: LedgerResult = { sizes: SIZES, random, ascending, node: process.version };
  console.log(`${MARKER} ${JSON.stringify(result)}`);
}

main();
