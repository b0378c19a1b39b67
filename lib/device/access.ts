// The checks every register access of a region makes before any syscall or load, whether it goes
// through an mmap (MmioRegion) or the device fd (RegionIo): an offset inside the region, a width
// of 8, 16, 32 or 64 bits, aligned to itself, and a value that fits.
import type { MmioWidth } from '../binding';
import {
  ArgumentRangeError,
  InvalidArgumentError,
  RegionBoundsError,
  RegisterWidthError,
} from '../errors';
import { describe, orDefault, toOneOf, toOptions } from '../validate';

export type Endianness = 'little' | 'big';

/** What the messages name: the device, the region, and its size. */
export interface AccessTarget {
  device: string;
  region: string;
  size: bigint;
}

const WIDTHS: readonly unknown[] = [8, 16, 32, 64];

/** The byte order of an options bag ({ endianness }), `fallback` when absent. */
export function toEndianness(options: unknown, fallback: Endianness): Endianness {
  const opts = toOptions<{ endianness: Endianness }>('options', options);
  return toOneOf('options.endianness', orDefault(opts.endianness, fallback), [
    'little',
    'big',
  ] as const);
}

/** An offset: a non-negative safe integer or bigint. */
export function toOffset(value: unknown): bigint {
  if (typeof value === 'bigint' && value >= 0n) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  throw new ArgumentRangeError(
    `offset must be a non-negative integer or bigint, got ${describe(value)}`,
  );
}

/** Refuses `length` bytes at `offset` unless they lie inside the region. */
export function checkRange(target: AccessTarget, offset: bigint, length: bigint): void {
  if (offset + length > target.size) {
    throw new RegionBoundsError({
      device: target.device,
      region: target.region,
      offset,
      length,
      size: target.size,
    });
  }
}

/** Checks a register access and returns its offset as a bigint. */
export function checkRegister(target: AccessTarget, offset: unknown, width: unknown): bigint {
  const at = toOffset(offset);
  if (!WIDTHS.includes(width) || at % BigInt((width as number) / 8) !== 0n) {
    throw new RegisterWidthError({
      device: target.device,
      region: target.region,
      offset: at,
      width,
    });
  }
  checkRange(target, at, BigInt((width as number) / 8));
  return at;
}

/** A register value: a safe integer or a bigint that fits in `width` bits. */
export function toRegisterValue(value: unknown, width: MmioWidth): bigint {
  let big: bigint;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw new ArgumentRangeError(`register value must be a safe integer, got ${value}`);
    }
    big = BigInt(value);
  } else if (typeof value === 'bigint') {
    big = value;
  } else {
    throw new InvalidArgumentError(
      `register value must be a number or bigint, got ${describe(value)}`,
    );
  }
  if (big < 0n || big >= 1n << BigInt(width)) {
    throw new ArgumentRangeError(`register value ${big} does not fit in ${width} bits`);
  }
  return big;
}

/** The bytes of a register value in the device's byte order. */
export function encodeRegister(value: bigint, width: MmioWidth, bigEndian: boolean): Uint8Array {
  const bytes = new Uint8Array(width / 8);
  for (let i = 0; i < bytes.length; i += 1) {
    bytes[bigEndian ? bytes.length - 1 - i : i] = Number((value >> BigInt(8 * i)) & 0xffn);
  }
  return bytes;
}

export function decodeRegister(bytes: Uint8Array, bigEndian: boolean): bigint {
  let value = 0n;
  for (let i = 0; i < bytes.length; i += 1) {
    value = (value << 8n) | BigInt(bytes[bigEndian ? i : bytes.length - 1 - i]);
  }
  return value;
}
