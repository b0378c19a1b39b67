// Addresses, IOVAs and sizes as counts of 4 KiB granules held in JavaScript numbers, for the
// ledger's checks. A speed measure, not a model: under the emulated POWER8 a bigint sum costs
// about 6 µs and a remainder about 4 µs, and a map check made about ten of them; counting in
// numbers made map+unmap 4 KiB take 0.88x the time and register+unregister 1 MiB 0.89x
// (guest A/B run, interleaved; commit b7b6a87). The records keep the bigints users see.

/** The smallest system or IOMMU page on POWER: every address and IOVA in the books is aligned to it. */
export const GRANULE = 4096;
export const GRANULE_BIG = 4096n;
/** A range ending at or beyond this many granules may pass 2^64 (2^52 granules). */
export const LAST_GRANULES = 2 ** 52 - 2;
/** Below this a bigint converts to a number exactly. */
const EXACT_BELOW = 2 ** 53;

/**
 * A byte address or size in granules, as a number. Exact for multiples of 4 KiB (below 2^64
 * they are below 2^52 granules). Any other value becomes a non-integer between the same two
 * integers, so the alignment tests refuse it and the ordering stays right: below 2^53 the
 * division gives the exact fraction; above, where the low bits would be lost, half a granule
 * stands for them.
 */
export function toGranules(value: bigint): number {
  const n = Number(value);
  if (n < EXACT_BELOW) return n / GRANULE;
  const whole = Number(value >> 12n);
  return (value & 0xfffn) === 0n ? whole : whole + 0.5;
}

/** Whether a granule count is a whole number of pages of `pageGranules` (a power of two). */
export function isMultiple(granules: number, pageGranules: number): boolean {
  return granules % pageGranules === 0;
}
