// The container's view of the process's locked memory: VmLck and RLIMIT_MEMLOCK, plus the
// registrations in flight that VmLck does not show yet, checked before each charge.
import type { NativeBinding } from '../binding';
import { assertFits, readMemlockStatus, type MemlockStatus } from '../memlock';

export class LockedMemory {
  /** Bytes of async registrations in flight (not yet in VmLck). */
  private inFlight = 0n;

  constructor(private readonly binding: NativeBinding) {}

  status(): MemlockStatus {
    const status = readMemlockStatus(this.binding);
    return { ...status, locked: status.locked + this.inFlight };
  }

  /** Throws MemlockLimitError unless `bytes` more can be locked. */
  assertFits(bytes: bigint, operation: string | (() => string)): void {
    if (bytes === 0n) return;
    // With CAP_IPC_LOCK (root) the kernel charges but never refuses: no /proc read needed.
    if (this.binding.hasCapIpcLock()) return;
    assertFits(this.status(), bytes, operation);
  }

  /** An async registration will lock `bytes` that VmLck does not show yet. */
  addInFlight(bytes: bigint): void {
    this.inFlight += bytes;
  }

  /** Bytes of an async registration that the kernel charged, or that will never be charged. */
  removeInFlight(bytes: bigint): void {
    this.inFlight -= bytes;
  }
}
