// Interrupts delivered to JavaScript: a range of vectors routed to eventfds the library makes,
// watched by the process's one epoll thread, reported as 'interrupt' events. The ERR and REQ
// indexes become typed events (the device's error notification, the kernel asking for the
// device back). A VMM that wires vectors to KVM uses Device.setInterruptTriggers instead and
// pays for no watching at all.
import { EventEmitter } from 'node:events';
import type { NativeBinding } from '../binding';
import { installDispose } from '../dispose';
import { EventFd, type EventFdWatch } from './eventfd';
import type { IrqBook } from './irqs';

/** The kernel asks for the device back (REQ index: an unbind, a hot unplug): close it. */
export interface DeviceRequestEvent {
  kind: 'request';
  device: string;
  /** Requests since the last event (the kernel repeats them every 10 s until the device is closed). */
  count: bigint;
}

/** An error was reported for the device (ERR index: AER/EEH error_detected). */
export interface DeviceErrorEvent {
  kind: 'error';
  device: string;
  count: bigint;
}

export interface DeviceInterrupts {
  on(event: 'interrupt', listener: (vector: number, count: bigint) => void): this;
  once(event: 'interrupt', listener: (vector: number, count: bigint) => void): this;
}

export class DeviceInterrupts extends EventEmitter {
  /** The library's eventfd of each vector, from `start` on. */
  readonly eventfds: readonly EventFd[];
  private readonly watches: EventFdWatch[] = [];
  private active = true;

  private constructor(
    private readonly book: IrqBook,
    readonly index: number,
    readonly start: number,
    eventfds: EventFd[],
    private readonly onDisable: () => void,
  ) {
    super();
    this.eventfds = Object.freeze(eventfds);
  }

  /** @internal Use Device.enableInterrupts. */
  static enable(
    binding: NativeBinding,
    book: IrqBook,
    index: number,
    range: { start: number; count: number },
    onDisable: () => void,
  ): DeviceInterrupts {
    const eventfds: EventFd[] = [];
    try {
      for (let i = 0; i < range.count; i += 1) eventfds.push(EventFd.create({ binding }));
      book.setTriggers(index, eventfds, range.start);
    } catch (error) {
      for (const e of eventfds) e.close();
      throw error;
    }
    const route = new DeviceInterrupts(book, index, range.start, eventfds, onDisable);
    eventfds.forEach((e, i) => {
      route.watches.push(e.watch((count) => route.emit('interrupt', range.start + i, count)));
    });
    return route;
  }

  get disabled(): boolean {
    return !this.active;
  }

  /** @internal The device fd closed: the kernel turned its interrupts off; free what is ours. */
  deviceClosed(): void {
    if (!this.active) return;
    this.active = false;
    this.stopAndClose();
  }

  /**
   * Stops delivery: the vectors still routed to the library's eventfds are de-assigned (the
   * index goes off with its last vector), the watches stop and the eventfds are closed.
   */
  disable(): void {
    if (!this.active) return;
    this.active = false;
    this.onDisable();
    try {
      this.book.release(this.index, new Set(this.eventfds.map((e) => e.fd)));
    } finally {
      this.stopAndClose();
    }
  }

  private stopAndClose(): void {
    for (const watch of this.watches) watch.stop();
    for (const e of this.eventfds) e.close();
  }
}

installDispose(DeviceInterrupts, 'disable');
