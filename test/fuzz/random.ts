// A seeded pseudo-random generator for the fuzzers (mulberry32: 32-bit state, fast, and the
// same sequence on every machine), and the seed and call count a run takes from the
// environment so that any run can be replayed exactly.
export class Random {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** A uniformly random bigint of `bits` bits (at most 64). */
  bits(bits: number): bigint {
    const hi = BigInt(this.int(2 ** 32));
    const lo = BigInt(this.int(2 ** 32));
    return ((hi << 32n) | lo) & ((1n << BigInt(bits)) - 1n);
  }

  /** A child generator: a sub-fuzzer's sequence does not shift when the parent's does. */
  fork(): Random {
    return new Random(this.int(2 ** 32));
  }
}

/** The seed: VFIO_FUZZ_SEED (decimal or 0x-hex) when set, else a fresh one. */
export function fuzzSeed(): number {
  const text = process.env.VFIO_FUZZ_SEED;
  if (text !== undefined && text !== '') {
    const seed = Number(text);
    if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) {
      throw new Error(`VFIO_FUZZ_SEED must be an integer in [0, 2^32), got ${text}`);
    }
    return seed;
  }
  return (Date.now() ^ (process.pid << 16) ^ Math.floor(Math.random() * 2 ** 32)) >>> 0;
}

/** How many calls a fuzzer makes: its default times VFIO_FUZZ_SCALE (default 1). */
export function fuzzCalls(defaultCalls: number): number {
  const text = process.env.VFIO_FUZZ_SCALE;
  if (text === undefined || text === '') return defaultCalls;
  const scale = Number(text);
  if (!(scale > 0)) throw new Error(`VFIO_FUZZ_SCALE must be a positive number, got ${text}`);
  return Math.max(1, Math.round(defaultCalls * scale));
}
