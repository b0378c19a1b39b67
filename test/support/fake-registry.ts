// The fake binding's registry of the process's registrations: a separate, plain model of the
// addon's (native/registry.cc), one per fake process, so host tests do not share the real
// process-wide one. An identical range is shared; any other overlap is refused.
import type { NativeBinding, NativeError } from '../../lib/binding';

type RegistryCalls = Pick<
  NativeBinding,
  'registryAcquire' | 'registryRelease' | 'registryConfirm' | 'registryPendingBytes'
>;

export function fakeRegistry(): RegistryCalls & { clear(): void } {
  const entries = new Map<bigint, { size: bigint; holders: number; pending: boolean }>();
  return {
    registryAcquire(address, size) {
      for (const [start, e] of entries) {
        if (start === address && e.size === size) return e.holders++;
        if (start < address + size && address < start + e.size) {
          const error = new Error('overlap') as NativeError & {
            conflictAddress: bigint;
            conflictSize: bigint;
          };
          error.code = 'ERR_VFIO_NATIVE_REGISTRATION_OVERLAP';
          error.conflictAddress = start;
          error.conflictSize = e.size;
          throw error;
        }
      }
      entries.set(address, { size, holders: 1, pending: true });
      return 0;
    },
    registryRelease(address, size) {
      const e = entries.get(address);
      if (!e || e.size !== size) return -1;
      e.holders -= 1;
      if (e.holders === 0) entries.delete(address);
      return e.holders;
    },
    registryConfirm(address, size) {
      const e = entries.get(address);
      if (e && e.size === size) e.pending = false;
    },
    registryPendingBytes() {
      let bytes = 0n;
      for (const e of entries.values()) if (e.pending) bytes += e.size;
      return bytes;
    },
    clear() {
      entries.clear();
    },
  };
}
