// The lifecycle every kernel object shares: use after close and use from another process
// (after fork the container belongs to the parent's mm) are refused before any ioctl.
import type { NativeBinding } from './binding';
import { ClosedError, ForkedProcessError } from './errors';

export abstract class Handle {
  private readonly ownerPid: number;
  private closedFlag = false;

  protected constructor(
    /** @internal */ readonly binding: NativeBinding,
    private readonly what: string,
  ) {
    this.ownerPid = binding.pidCell[0];
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Throws unless the object is open and used by the process that opened it. */
  protected assertUsable(): void {
    if (this.closedFlag) throw new ClosedError({ what: this.what });
    const pid = this.binding.pidCell[0];
    if (pid !== this.ownerPid)
      throw new ForkedProcessError({ what: this.what, ownerPid: this.ownerPid, pid });
  }

  /** Marks the object closed; returns false when it already was. */
  protected markClosed(): boolean {
    if (this.closedFlag) return false;
    this.closedFlag = true;
    return true;
  }
}
