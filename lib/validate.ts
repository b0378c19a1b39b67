// Argument checking for the public API: every value is checked here, in TypeScript,
// before it reaches the native layer (which checks again).
import { ArgumentRangeError, InvalidArgumentError } from './errors';

export const U64_MAX = (1n << 64n) - 1n;

/** A value for an error message; never throws (detached views, null-prototype objects, proxies). */
export function describe(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null) return 'null';
  if (typeof value === 'object') {
    let name: unknown;
    try {
      name = (value as { constructor?: { name?: unknown } }).constructor?.name;
    } catch {
      name = undefined;
    }
    return `an ${typeof name === 'string' && name !== '' ? name : 'object'}`;
  }
  if (typeof value === 'function') return 'a function';
  return `${typeof value} ${String(value)}`;
}

/** An address or IOVA: a bigint in [0, 2^64). */
export function toAddress(name: string, value: unknown): bigint {
  if (typeof value !== 'bigint') {
    throw new InvalidArgumentError(`${name} must be a bigint, got ${describe(value)}`);
  }
  if (value < 0n || value > U64_MAX) {
    throw new ArgumentRangeError(`${name} must be in [0, 2^64), got ${value}`);
  }
  return value;
}

/** A size or offset: a bigint or a safe non-negative integer number, returned as bigint. */
export function toSize(name: string, value: unknown, { min = 0n }: { min?: bigint } = {}): bigint {
  let size: bigint;
  if (typeof value === 'bigint') {
    size = value;
  } else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw new ArgumentRangeError(`${name} must be a safe integer or a bigint, got ${value}`);
    }
    size = BigInt(value);
  } else {
    throw new InvalidArgumentError(
      `${name} must be a bigint or an integer number, got ${describe(value)}`,
    );
  }
  if (size < min || size > U64_MAX) {
    throw new ArgumentRangeError(`${name} must be in [${min}, 2^64), got ${size}`);
  }
  return size;
}

/** A small non-negative integer (indexes, group numbers, counts). */
export function toIndex(name: string, value: unknown, max = 0x7fffffff): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new InvalidArgumentError(`${name} must be an integer, got ${describe(value)}`);
  }
  if (value < 0 || value > max) {
    throw new ArgumentRangeError(`${name} must be in [0, ${max}], got ${value}`);
  }
  return value;
}

export function toBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new InvalidArgumentError(`${name} must be a boolean, got ${describe(value)}`);
  }
  return value;
}

export function toOneOf<T extends string | number>(
  name: string,
  value: unknown,
  allowed: readonly T[],
): T {
  if (!allowed.includes(value as T)) {
    throw new InvalidArgumentError(
      `${name} must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${describe(value)}`,
    );
  }
  return value as T;
}

/** An options bag: undefined becomes {}, anything but a plain object is refused. */
export function toOptions<T extends object>(name: string, value: unknown): Partial<T> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(`${name} must be an object, got ${describe(value)}`);
  }
  return value as Partial<T>;
}

/** An option's value, or the default when it is absent (null is a value, and is checked). */
export function orDefault<T>(value: T | undefined, fallback: T): T {
  return value === undefined ? fallback : value;
}

export function isPowerOfTwo(value: bigint): boolean {
  return value > 0n && (value & (value - 1n)) === 0n;
}

export function log2(value: bigint): number {
  return value.toString(2).length - 1;
}

export function hex(value: bigint | number): string {
  return `0x${value.toString(16)}`;
}
