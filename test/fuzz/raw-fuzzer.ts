// Fuzzes the raw native binding: every exported function called with random arity and with
// arguments that are either plausible (the fuzzer's own fds, buffers it allocated, aligned
// sizes) or hostile (hostile.ts). A call may succeed or throw a typed native error; anything
// else (an untyped throw, a crash, a leaked fd) is a failure. The fuzzer only ever hands the
// addon fds it opened itself (or numbers that are surely closed), so it cannot close or write
// to the test runner's own descriptors.
import * as fs from 'node:fs';
import type { NativeBinding } from '../../lib/binding';
import { detachedArrayBuffer, detachedView, hostile } from './hostile';
import type { Random } from './random';
import { Tally, nativeErrorCode } from './tally';

type Shape =
  | 'fd'
  | 'ownFd'
  | 'mapFd'
  | 'eventfd'
  | 'u64'
  | 'address'
  | 'u32'
  | 'int'
  | 'bool'
  | 'name'
  | 'callback'
  | 'bytes'
  | 'size'
  | 'backing'
  | 'hugePage'
  | 'arrayBuffer'
  | 'ownBuffer'
  | 'regionBuffer'
  | 'mmioBuffer'
  | 'offset'
  | 'width'
  | 'eehErr'
  | 'fdList'
  | 'irqData'
  | 'ranges';

/** The addon's surface as the fuzzer knows it: each function's parameters by shape. */
const SIGNATURES: Record<string, Shape[]> = {
  openContainer: [],
  closeFd: ['ownFd'],
  getApiVersion: ['fd'],
  checkExtension: ['fd', 'u32'],
  setIommu: ['fd', 'u32'],
  spaprTceGetInfo: ['fd'],
  iommuEnable: ['fd'],
  iommuDisable: ['fd'],
  registerMemory: ['fd', 'address', 'size', 'u32', 'int'],
  registerMemoryAsync: ['fd', 'address', 'size'],
  unregisterMemory: ['fd', 'address', 'size', 'u32', 'int'],
  mapDma: ['fd', 'address', 'u64', 'size', 'u32'],
  mapDmaBatch: ['fd', 'ranges'],
  unmapDma: ['fd', 'u64', 'size', 'u32'],
  spaprTceCreate: ['fd', 'u32', 'u64', 'u32'],
  spaprTceRemove: ['fd', 'u64'],
  eehPeOp: ['fd', 'u32', 'eehErr'],
  openGroup: ['int'],
  groupGetStatus: ['fd'],
  groupSetContainer: ['fd', 'fd'],
  groupUnsetContainer: ['fd'],
  groupGetDeviceFd: ['fd', 'name'],
  deviceGetInfo: ['fd'],
  deviceGetRegionInfo: ['fd', 'u32'],
  deviceGetIrqInfo: ['fd', 'u32'],
  deviceSetIrqs: ['fd', 'u32', 'u32', 'u32', 'u32', 'irqData'],
  deviceReset: ['fd'],
  deviceGetPciHotResetInfo: ['fd', 'int'],
  devicePciHotReset: ['fd', 'fdList'],
  pread: ['fd', 'bytes', 'u64'],
  pwrite: ['fd', 'bytes', 'u64'],
  mmapRegion: ['mapFd', 'offset', 'size', 'bool'],
  unmapRegion: ['regionBuffer'],
  mmioRead: ['mmioBuffer', 'offset', 'width', 'bool'],
  mmioWrite: ['mmioBuffer', 'offset', 'width', 'u64', 'bool'],
  eventfdCreate: [],
  eventfdRead: ['eventfd'],
  eventfdWrite: ['eventfd', 'u64'],
  eventfdWatch: ['eventfd', 'callback'],
  allocBuffer: ['size', 'backing', 'hugePage'],
  freeBuffer: ['ownBuffer'],
  addressOf: ['arrayBuffer'],
  pageSize: [],
  hugePageSize: [],
  maxPageOrder: [],
  getMemlockLimit: [],
  vmLockedBytes: [],
  hasCapIpcLock: [],
};

/** Functions that must not get arbitrary valid arguments (they would change the process). */
const SPECIAL = new Set([
  'setMemlockLimit',
  // The process's registry of registrations: a random booking would refuse later real ones.
  'registryAcquire',
  'registryRelease',
  'registryConfirm',
]);

export interface RawFuzzOptions {
  /** The run's seed, for the report. */
  seed?: number;
  /** Extra fds the fuzzer may use (and close): e.g. a VFIO container in the guest. */
  extraFds?: number[];
  /** Backings allocBuffer gets asked for (on a 4K-page ppc64 kernel, registering hugetlb
   * memory never returns: leave it out there). */
  backings?: string[];
  /** Functions not to call: on a real kernel, openContainer (a container the fuzzer makes
   * could get a real group and a raw map past its window end, which corrupts the kernel). */
  forbid?: string[];
  /** Largest plausible allocation, in pages (keeps memory use bounded). */
  maxAllocPages?: number;
}

export interface RawFuzzResult {
  tally: Tally;
  /** Functions of the binding the fuzzer had no signature for, fuzzed with hostile values only. */
  unknown: string[];
  fdsBefore: number;
  fdsAfter: number;
  /** fds open after the run that were not before it: fd -> what it refers to. */
  leakedFds: string[];
}

/** The open fds of this process and what each refers to. */
function openFds(): Map<string, string> {
  const fds = new Map<string, string>();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      fds.set(fd, fs.readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // the directory's own fd, closed by now
    }
  }
  return fds;
}

/** A number that is certainly not an open fd of this process. */
function closedFd(): number {
  for (let fd = 900001; ; fd += 1) {
    try {
      fs.fstatSync(fd);
    } catch {
      return fd;
    }
  }
}

export async function fuzzRawBinding(
  binding: NativeBinding,
  rng: Random,
  calls: number,
  options: RawFuzzOptions = {},
): Promise<RawFuzzResult> {
  const tally = new Tally('raw binding', options.seed ?? rng.seed, nativeErrorCode);
  const page = binding.pageSize();
  const maxPages = options.maxAllocPages ?? 16;
  const backings = options.backings ?? ['anonymous', 'shared', 'memfd', 'hugetlb'];
  const before = openFds();
  const memlockBefore = binding.getMemlockLimit();
  const devNull = fs.openSync('/dev/null', 'r+');
  const devZero = fs.openSync('/dev/zero', 'r+');
  const never = closedFd();
  /** fds this fuzzer owns: it may pass them anywhere and close them. */
  const own = new Set<number>([devNull, devZero, ...(options.extraFds ?? [])]);
  const eventfds: number[] = [];
  const buffers: ArrayBuffer[] = [];
  const freed: ArrayBuffer[] = [];
  const regions: ArrayBuffer[] = [];
  const watchers: { stop(): void }[] = [];
  const pending: Promise<void>[] = [];
  const addresses: bigint[] = [];

  const safeFdNumber = (value: unknown): unknown =>
    typeof value === 'number' && value > -1 && value < 2 ** 31 && !own.has(value) ? never : value;
  const ownFds = () => [...own];
  const plausibleOr = (make: () => unknown): unknown =>
    rng.chance(0.7) ? make() : safeFdNumber(hostile(rng));

  const shapes: Record<Shape, () => unknown> = {
    fd: () => plausibleOr(() => rng.pick([...ownFds(), never, -1])),
    ownFd: () => plausibleOr(() => rng.pick([...eventfds, never, -1, 2 ** 31])),
    mapFd: () => plausibleOr(() => rng.pick([devZero, devNull, never, ...eventfds])),
    eventfd: () => plausibleOr(() => (eventfds.length ? rng.pick(eventfds) : never)),
    u64: () =>
      plausibleOr(() => rng.pick([0n, BigInt(page), rng.bits(64), rng.bits(32) * BigInt(page)])),
    address: () =>
      plausibleOr(() =>
        addresses.length && rng.chance(0.6) ? rng.pick(addresses) : rng.pick([0n, rng.bits(64)]),
      ),
    u32: () => plausibleOr(() => rng.pick([0, 1, 2, 3, 7, 12, 16, rng.int(2 ** 32)])),
    int: () => plausibleOr(() => rng.pick([0, 1, 2, 3, 8, 24, 4096, 65536, 2 ** 31 - 1])),
    bool: () => (rng.chance(0.8) ? rng.chance(0.5) : hostile(rng)),
    // Never a device that exists: a device fd would let random pwrites reach real registers.
    name: () => plausibleOr(() => rng.pick(['0000:ff:1f.7', '', 'x'.repeat(256), 'a\0b'])),
    callback: () => (rng.chance(0.8) ? () => undefined : hostile(rng)),
    bytes: () =>
      plausibleOr(() =>
        rng.pick([
          () => new Uint8Array(rng.int(64)),
          () => (buffers.length ? new Uint8Array(rng.pick(buffers)) : new Uint8Array(8)),
          () => new Uint8Array(new SharedArrayBuffer(16)),
          () => detachedView(),
          () => Buffer.alloc(32),
        ])(),
      ),
    size: () =>
      plausibleOr(() => {
        const v = rng.pick([page * (1 + rng.int(maxPages)), page, 0, 1, page + 1]);
        return rng.chance(0.5) ? v : BigInt(v);
      }),
    backing: () => {
      const backing = plausibleOr(() => rng.pick([...backings, 'bogus']));
      return backing === 'hugetlb' && !backings.includes('hugetlb') ? 'anonymous' : backing;
    },
    hugePage: () =>
      rng.chance(0.7) ? undefined : plausibleOr(() => rng.pick([2 ** 21, 2 ** 24, page, 3])),
    arrayBuffer: () =>
      plausibleOr(() =>
        rng.pick([...buffers, ...freed, ...regions, new ArrayBuffer(8), detachedArrayBuffer()]),
      ),
    ownBuffer: () =>
      plausibleOr(() => rng.pick([...buffers, ...freed, ...regions, new ArrayBuffer(page)])),
    regionBuffer: () =>
      plausibleOr(() => rng.pick([...regions, ...buffers, new ArrayBuffer(page)])),
    mmioBuffer: () =>
      plausibleOr(() =>
        rng.pick([...buffers, ...regions, ...freed, new ArrayBuffer(64), detachedArrayBuffer()]),
      ),
    offset: () =>
      plausibleOr(() => {
        const v = rng.pick([0, 1, 2, 4, 8, page - 8, page, rng.int(page * 4)]);
        return rng.chance(0.5) ? v : BigInt(v);
      }),
    width: () => plausibleOr(() => rng.pick([8, 16, 32, 64, 0, 24, 128])),
    eehErr: () =>
      rng.chance(0.3)
        ? undefined
        : plausibleOr(() => ({
            type: rng.chance(0.8) ? rng.int(3) : hostile(rng),
            func: rng.chance(0.8) ? rng.int(20) : hostile(rng),
            addr: rng.chance(0.8) ? rng.bits(64) : hostile(rng),
            mask: rng.chance(0.8) ? rng.bits(64) : hostile(rng),
          })),
    fdList: () =>
      rng.chance(0.3)
        ? undefined
        : plausibleOr(() =>
            Array.from({ length: rng.int(4) }, () =>
              rng.chance(0.8) ? rng.pick([-1, ...eventfds, never]) : safeFdNumber(hostile(rng)),
            ),
          ),
    // VFIO_DEVICE_SET_IRQS data: eventfds, or booleans (DATA_BOOL), or none
    irqData: () =>
      rng.chance(0.5)
        ? shapes.fdList()
        : plausibleOr(() =>
            Array.from({ length: rng.int(4) }, () =>
              rng.chance(0.8) ? rng.chance(0.5) : hostile(rng),
            ),
          ),
    ranges: () =>
      plausibleOr(() => {
        const r = new BigUint64Array(4 * rng.int(4));
        for (let i = 0; i < r.length; i += 1) r[i] = rng.chance(0.5) ? rng.bits(64) : BigInt(page);
        return r;
      }),
  };

  // Keep what calls create: fds to close and buffers to free at the end.
  const adopt = (name: string, result: unknown): void => {
    if (name === 'eventfdCreate' && typeof result === 'number') {
      eventfds.push(result);
      own.add(result);
    } else if (
      (name === 'openContainer' || name === 'openGroup' || name === 'groupGetDeviceFd') &&
      typeof result === 'number'
    ) {
      own.add(result);
    } else if (name === 'allocBuffer') {
      const r = result as { buffer: ArrayBuffer; address: bigint; fd: number };
      buffers.push(r.buffer);
      addresses.push(r.address);
    } else if (name === 'mmapRegion') {
      regions.push(result as ArrayBuffer);
    } else if (name === 'eventfdWatch') {
      watchers.push(result as { stop(): void });
    }
  };
  const forget = (name: string, args: unknown[]): void => {
    if (name === 'closeFd') {
      own.delete(args[0] as number);
      const i = eventfds.indexOf(args[0] as number);
      if (i >= 0) eventfds.splice(i, 1);
    } else if (name === 'freeBuffer' || name === 'unmapRegion') {
      for (const list of [buffers, regions]) {
        const i = list.indexOf(args[0] as ArrayBuffer);
        if (i >= 0) freed.push(...list.splice(i, 1));
      }
    }
  };

  const bind = binding as unknown as Record<string, unknown>;
  const forbidden = new Set(options.forbid ?? []);
  const functions = Object.keys(bind).filter(
    (k) => typeof bind[k] === 'function' && !forbidden.has(k),
  );
  const unknown = functions.filter((f) => !(f in SIGNATURES) && !SPECIAL.has(f));
  const limits: Record<string, () => boolean> = {
    allocBuffer: () => buffers.length < 24,
    mmapRegion: () => regions.length < 16,
    eventfdCreate: () => eventfds.length < 8,
    eventfdWatch: () => watchers.length < 4,
  };

  for (let issued = 0; issued < calls;) {
    const name = rng.pick(functions);
    let args: unknown[];
    if (name === 'setMemlockLimit') {
      // Only refusals, or the limits as they are: the fuzzer must not change the process.
      args = rng.chance(0.5)
        ? [memlockBefore.soft, memlockBefore.hard]
        : [hostile(rng), rng.chance(0.5) ? memlockBefore.hard : hostile(rng)];
      if (typeof args[0] === 'bigint' && typeof args[1] === 'bigint') {
        args = [memlockBefore.soft, memlockBefore.hard];
      }
    } else if (name.startsWith('registry')) {
      // Only refusals: an address that is no bigint (the booking would outlive the fuzz).
      args = [rng.pick(['0x1000', 4096, null, undefined, {}]), hostile(rng)];
    } else if (name in SIGNATURES) {
      if (limits[name] && !limits[name]()) continue;
      args = SIGNATURES[name].map((shape) => shapes[shape]());
      // Random arity: drop trailing arguments or add junk ones.
      if (rng.chance(0.1)) args = args.slice(0, rng.int(args.length + 1));
      else if (rng.chance(0.05)) args.push(hostile(rng), hostile(rng));
    } else {
      args = Array.from({ length: rng.int(6) }, () => safeFdNumber(hostile(rng)));
    }
    issued += 1;
    try {
      const result = (bind[name] as (...a: unknown[]) => unknown)(...args);
      if (result instanceof Promise) {
        pending.push(
          result.then(
            () => tally.success(),
            (error: unknown) => tally.error(`${name} (async)`, error),
          ),
        );
        continue;
      }
      tally.success();
      adopt(name, result);
      forget(name, args);
    } catch (error) {
      tally.error(name, error);
    }
    if (pending.length > 256) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending.splice(0));

  for (const watcher of watchers) watcher.stop();
  for (const buffer of [...buffers]) binding.freeBuffer(buffer);
  for (const region of [...regions]) binding.unmapRegion(region);
  for (const fd of own) fs.closeSync(fd);
  const memlockAfter = binding.getMemlockLimit();
  if (memlockAfter.soft !== memlockBefore.soft || memlockAfter.hard !== memlockBefore.hard) {
    tally.fail('setMemlockLimit', 'the fuzz changed RLIMIT_MEMLOCK');
  }
  const after = openFds();
  const leakedFds = [...after]
    .filter(([fd, target]) => before.get(fd) !== target)
    .map(([fd, target]) => `${fd} -> ${target}`);
  return { tally, unknown, fdsBefore: before.size, fdsAfter: after.size, leakedFds };
}
