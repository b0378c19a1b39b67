// Device interrupts delivered to eventfds. Each eventfd is watched on its own native thread
// (not the libuv pool, whose four threads a blocked wait would starve) and reported as events.
import { EventEmitter } from 'node:events';
import type { EventfdWatcher, NativeBinding } from './binding';
import { installDispose } from './dispose';
import { callNative } from './errors';

export interface DeviceInterrupts {
  on(event: 'interrupt', listener: (vector: number, count: bigint) => void): this;
  once(event: 'interrupt', listener: (vector: number, count: bigint) => void): this;
}

export class DeviceInterrupts extends EventEmitter {
  private readonly watchers: EventfdWatcher[] = [];
  private active = true;

  private constructor(
    private readonly binding: NativeBinding,
    private readonly deviceFd: number,
    readonly index: number,
    readonly eventfds: readonly number[],
    private readonly onDisable: () => void,
  ) {
    super();
  }

  /** @internal Use Device.enableInterrupts. */
  static enable(
    binding: NativeBinding,
    deviceFd: number,
    index: number,
    count: number,
    deviceName: string,
    onDisable: () => void,
  ): DeviceInterrupts {
    const c = binding.constants;
    const fds: number[] = [];
    try {
      for (let i = 0; i < count; i += 1)
        fds.push(callNative('eventfd', () => binding.eventfdCreate()));
      callNative(`routing IRQ index ${index} of ${deviceName} to eventfds`, () =>
        binding.deviceSetIrqs(
          deviceFd,
          index,
          0,
          count,
          c.VFIO_IRQ_SET_DATA_EVENTFD | c.VFIO_IRQ_SET_ACTION_TRIGGER,
          fds,
        ),
      );
    } catch (error) {
      for (const fd of fds) binding.closeFd(fd);
      throw error;
    }
    const interrupts = new DeviceInterrupts(binding, deviceFd, index, fds, onDisable);
    fds.forEach((fd, vector) => {
      interrupts.watchers.push(
        binding.eventfdWatch(fd, (n) => interrupts.emit('interrupt', vector, n)),
      );
    });
    return interrupts;
  }

  /** Stops delivery: the device's trigger is torn down, watchers stopped, eventfds closed. */
  disable(): void {
    if (!this.active) return;
    this.active = false;
    this.onDisable();
    const c = this.binding.constants;
    try {
      callNative(`disabling IRQ index ${this.index}`, () =>
        this.binding.deviceSetIrqs(
          this.deviceFd,
          this.index,
          0,
          0,
          c.VFIO_IRQ_SET_DATA_NONE | c.VFIO_IRQ_SET_ACTION_TRIGGER,
        ),
      );
    } finally {
      for (const watcher of this.watchers) watcher.stop();
      for (const fd of this.eventfds) this.binding.closeFd(fd);
    }
  }
}

installDispose(DeviceInterrupts, 'disable');
