// Byte sizes on the command line (64M, 2G, 4K, 65536, 0x10000) and in human output.
import { UsageError } from './usage-error';

const UNITS: Record<string, bigint> = {
  '': 1n,
  K: 1n << 10n,
  M: 1n << 20n,
  G: 1n << 30n,
  T: 1n << 40n,
  P: 1n << 50n,
};

/** Parses a size with an optional binary unit (K, M, G, T, P; KiB, MB... mean the same). */
export function parseSize(text: string, what: string): bigint {
  const hex = /^0x([0-9a-f]+)$/i.exec(text);
  if (hex) return BigInt(`0x${hex[1]}`);
  const match = /^(\d+)\s*([kmgtp]?)(?:i?b)?$/i.exec(text.trim());
  if (!match) {
    throw new UsageError(
      `${what}: ${JSON.stringify(text)} is not a size (write e.g. 4K, 64M, 2G or a byte count)`,
    );
  }
  return BigInt(match[1]) * UNITS[match[2].toUpperCase()];
}

/** 65536n -> '64 KiB'; exact where the unit divides, else one decimal. */
export function formatBytes(bytes: bigint): string {
  const names = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let unit = 0;
  while (unit < names.length - 1 && bytes >= 1n << BigInt(10 * (unit + 1))) unit += 1;
  const scale = 1n << BigInt(10 * unit);
  if (bytes % scale === 0n) return `${bytes / scale} ${names[unit]}`;
  return `${(Number((bytes * 10n) / scale) / 10).toFixed(1)} ${names[unit]}`;
}
