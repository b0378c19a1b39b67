// Wraps a binding (real or fake) and records every native call made through it (container,
// group and device ioctls, opens and closes, config and region reads and writes, mmap and
// MMIO, memory and process queries), so a test can show that a refusal happened before any
// call reached the kernel.
import type { NativeBinding } from '../../lib/binding';

/**
 * Native calls that only read this process's own state (page sizes, RLIMIT_MEMLOCK, VmLck,
 * capabilities, a buffer's address) or keep the addon's books of the process's registrations
 * (no syscall): the library consults them to decide a refusal. Every other call reaches a
 * VFIO fd or changes the process (opens, closes, ioctls, mmaps, MMIO, allocations).
 */
export const PROCESS_QUERIES: ReadonlySet<keyof NativeBinding> = new Set<keyof NativeBinding>([
  'pageSize',
  'hugePageSize',
  'maxPageOrder',
  'getMemlockLimit',
  'vmLockedBytes',
  'hasCapIpcLock',
  'addressOf',
  'registryAcquire',
  'registryRelease',
  'registryConfirm',
  'registryPendingBytes',
]);

export interface SpiedBinding {
  binding: NativeBinding;
  /** Every native call made so far, by binding method name, in order. */
  calls: string[];
}

/** The calls that reached the kernel or changed the process: all but PROCESS_QUERIES. */
export function kernelCalls(calls: readonly string[]): string[] {
  return calls.filter((name) => !PROCESS_QUERIES.has(name as keyof NativeBinding));
}

export function spyBinding(target: NativeBinding): SpiedBinding {
  const calls: string[] = [];
  const binding = new Proxy(target, {
    get(object, key, receiver) {
      const value = Reflect.get(object, key, receiver) as unknown;
      if (typeof key !== 'string' || typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(key);
        return (value as (...a: unknown[]) => unknown).apply(object, args);
      };
    },
  });
  return { binding, calls };
}
