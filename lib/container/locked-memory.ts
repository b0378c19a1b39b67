// The container's view of the process's locked memory: VmLck and RLIMIT_MEMLOCK, plus the
// registrations booked by any container or thread of the process whose ioctl has not returned
// (the addon's registry): VmLck does not show them yet. Checked before each charge.
import type { NativeBinding } from '../binding';
import { assertFits, readMemlockStatus, type MemlockStatus } from '../memlock';

export class LockedMemory {
  constructor(private readonly binding: NativeBinding) {}

  status(): MemlockStatus {
    const status = readMemlockStatus(this.binding);
    return { ...status, locked: status.locked + this.binding.registryPendingBytes() };
  }

  /**
   * Throws MemlockLimitError unless `bytes` more can be locked. `booked`: bytes of this very
   * operation already booked in the registry (counted in status() as pending).
   */
  assertFits(bytes: bigint, operation: string | (() => string), booked = 0n): void {
    if (bytes === 0n) return;
    // With CAP_IPC_LOCK (root) the kernel charges but never refuses: no /proc read needed.
    if (this.binding.hasCapIpcLock()) return;
    const status = this.status();
    assertFits({ ...status, locked: status.locked - booked }, bytes, operation);
  }
}
