// Wraps a binding (real or fake) and records which native calls were made, so a test can
// show that a refusal happened before any ioctl reached the kernel.
import type { NativeBinding } from '../../lib/binding';

/** Native calls that are ioctls on a container, group or device. */
const KERNEL_CALLS = new Set([
  'setIommu',
  'spaprTceGetInfo',
  'iommuEnable',
  'iommuDisable',
  'registerMemory',
  'registerMemoryAsync',
  'unregisterMemory',
  'mapDma',
  'mapDmaBatch',
  'unmapDma',
  'spaprTceCreate',
  'spaprTceRemove',
  'eehPeOp',
  'groupSetContainer',
  'groupUnsetContainer',
]);

export interface SpiedBinding {
  binding: NativeBinding;
  /** The kernel-changing calls made so far, by binding method name. */
  calls: string[];
}

export function spyBinding(target: NativeBinding): SpiedBinding {
  const calls: string[] = [];
  const binding = new Proxy(target, {
    get(object, key, receiver) {
      const value = Reflect.get(object, key, receiver) as unknown;
      if (typeof key !== 'string' || typeof value !== 'function' || !KERNEL_CALLS.has(key)) {
        return value;
      }
      return (...args: unknown[]) => {
        calls.push(key);
        return (value as (...a: unknown[]) => unknown).apply(object, args);
      };
    },
  });
  return { binding, calls };
}
