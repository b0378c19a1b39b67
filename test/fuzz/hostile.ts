// Values no API should choke on: wrong types, NaN, negatives, 2^64 and beyond, detached and
// foreign buffers, objects whose traps throw. Every fuzzer draws its bad arguments here.
import type { Random } from './random';

/** Thrown by the fuzzer's own trap objects: an API may let it through, as Node's own do. */
export class FuzzTrapError extends Error {
  constructor(what: string) {
    super(`fuzz trap: ${what}`);
    this.name = 'FuzzTrapError';
  }
}

const TWO_64 = 1n << 64n;

/** A Uint8Array whose ArrayBuffer was detached after the view was made. */
export function detachedView(size = 16): Uint8Array {
  const buffer = new ArrayBuffer(size);
  const view = new Uint8Array(buffer);
  structuredClone(buffer, { transfer: [buffer] });
  return view;
}

/** An ArrayBuffer whose memory was transferred away: detached. */
export function detachedArrayBuffer(size = 16): ArrayBuffer {
  const buffer = new ArrayBuffer(size);
  structuredClone(buffer, { transfer: [buffer] });
  return buffer;
}

function trapObject(): object {
  return new Proxy(
    {},
    {
      get(_target, key) {
        throw new FuzzTrapError(`get ${String(key)}`);
      },
      has(_target, key) {
        throw new FuzzTrapError(`has ${String(key)}`);
      },
      ownKeys() {
        throw new FuzzTrapError('ownKeys');
      },
      getPrototypeOf() {
        throw new FuzzTrapError('getPrototypeOf');
      },
    },
  );
}

function throwingGetters(): object {
  const o: Record<string, unknown> = {};
  for (const key of ['offset', 'size', 'read', 'write', 'pageSize', 'levels', 'type', 'func']) {
    Object.defineProperty(o, key, {
      enumerable: true,
      get() {
        throw new FuzzTrapError(`getter ${key}`);
      },
    });
  }
  return o;
}

const FIXED: readonly (() => unknown)[] = [
  () => undefined,
  () => null,
  () => true,
  () => false,
  () => 0,
  () => -0,
  () => -1,
  () => 1.5,
  () => 4095.999,
  () => NaN,
  () => Infinity,
  () => -Infinity,
  () => 2 ** 31,
  () => 2 ** 32,
  () => 2 ** 53,
  () => 2 ** 53 + 2,
  () => -(2 ** 53),
  () => Number.MAX_VALUE,
  () => Number.MIN_VALUE,
  () => 0n,
  () => -1n,
  () => 1n << 63n,
  () => TWO_64 - 1n,
  () => TWO_64,
  () => TWO_64 + 1n,
  () => TWO_64 + 4096n,
  () => 1n << 200n,
  () => -TWO_64,
  () => '',
  () => '0',
  () => '4096',
  () => '0x1000',
  () => 'v2',
  () => 'hugetlb',
  () => '../../../etc/passwd',
  () => '0000:01:00.0\0',
  () => '0000:01:00.0/../../..',
  () => '\ud800',
  () => 'a'.repeat(300),
  () => Symbol('fuzz'),
  () => ({}),
  () => [],
  () => [4096, 4096],
  () => Object.create(null),
  () => ({ valueOf: () => 4096, toString: () => '4096' }),
  () => ({ [Symbol.toPrimitive]: () => 4096n }),
  () => () => 4096,
  () => new ArrayBuffer(64),
  () => detachedArrayBuffer(),
  () => new SharedArrayBuffer(64),
  () => new Uint8Array(64),
  () => detachedView(),
  () => new Uint16Array(8),
  () => new BigUint64Array(4),
  () => new DataView(new ArrayBuffer(8)),
  () => Buffer.alloc(16),
  () => new Date(0),
  () => /x/,
  () => new Map(),
  () => Promise.resolve(4096),
  () => new Error('not a value'),
  () => new Array(2 ** 32 - 1),
  () => trapObject(),
  () => throwingGetters(),
];

/** One hostile value. */
export function hostile(rng: Random): unknown {
  return rng.pick(FIXED)();
}

/** How many kinds of hostile value there are (for reports). */
export const HOSTILE_KINDS = FIXED.length;
