// EEH (Enhanced Error Handling) operations on the PEs of a container's groups.
import type { NativeBinding } from './binding';
import { callNative } from './errors';
import { orDefault, toAddress, toIndex, toOneOf, toOptions } from './validate';

export type EehPeState = 'normal' | 'reset' | 'stopped' | 'stopped-dma' | 'unavailable';

const STATES: Record<number, EehPeState> = {
  0: 'normal',
  1: 'reset',
  2: 'stopped',
  4: 'stopped-dma',
  5: 'unavailable',
};

export interface EehErrorInjection {
  /** EEH error type (0: 32-bit, 1: 64-bit). */
  type: number;
  /** EEH error function (0: MMIO load, ...; see the PAPR ibm,errinjct function list). */
  func: number;
  addr?: bigint;
  mask?: bigint;
}

export class Eeh {
  /** @internal Use Container.eeh. */
  constructor(
    private readonly binding: NativeBinding,
    private readonly fd: () => number,
  ) {}

  enable(): void {
    this.op('enabling EEH', 'VFIO_EEH_PE_ENABLE');
  }
  disable(): void {
    this.op('disabling EEH', 'VFIO_EEH_PE_DISABLE');
  }
  state(): EehPeState {
    const raw = this.op('reading the PE state', 'VFIO_EEH_PE_GET_STATE');
    return STATES[raw] ?? 'unavailable';
  }
  unfreezeIo(): void {
    this.op('unfreezing PE MMIO', 'VFIO_EEH_PE_UNFREEZE_IO');
  }
  unfreezeDma(): void {
    this.op('unfreezing PE DMA', 'VFIO_EEH_PE_UNFREEZE_DMA');
  }
  reset(kind: 'hot' | 'fundamental' | 'deactivate'): void {
    const ops = {
      hot: 'VFIO_EEH_PE_RESET_HOT',
      fundamental: 'VFIO_EEH_PE_RESET_FUNDAMENTAL',
      deactivate: 'VFIO_EEH_PE_RESET_DEACTIVATE',
    } as const;
    const k = toOneOf('kind', kind, ['hot', 'fundamental', 'deactivate'] as const);
    this.op(`PE ${k} reset`, ops[k]);
  }
  configure(): void {
    this.op('configuring the PE', 'VFIO_EEH_PE_CONFIGURE');
  }
  injectError(error: EehErrorInjection): void {
    const e = toOptions<EehErrorInjection>('error', error);
    const err = {
      type: toIndex('error.type', e.type, 0xffffffff),
      func: toIndex('error.func', e.func, 0xffffffff),
      addr: toAddress('error.addr', orDefault(e.addr, 0n)),
      mask: toAddress('error.mask', orDefault(e.mask, 0n)),
    };
    this.op('injecting an EEH error', 'VFIO_EEH_PE_INJECT_ERR', err);
  }

  private op(
    attempted: string,
    name: keyof NativeBinding['constants'] & `VFIO_EEH_PE_${string}`,
    err?: { type: number; func: number; addr: bigint; mask: bigint },
  ): number {
    const fd = this.fd();
    const code = this.binding.constants[name];
    return callNative(attempted, () => this.binding.eehPeOp(fd, code, err));
  }
}
