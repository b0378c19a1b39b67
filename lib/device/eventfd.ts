// An eventfd the library made: the fd to hand to VFIO (and to KVM as an irqfd or resamplefd),
// a non-blocking read of its counter, a write, and a watch from JavaScript. Every watch of the
// process is polled by one native thread (epoll), which exists only while something is watched.
import { nativeBinding, type EventfdWatcher, type NativeBinding } from '../binding';
import { installDispose } from '../dispose';
import { ClosedError, InvalidArgumentError, callNative } from '../errors';
import { describe, toOptions } from '../validate';

export interface EventFdOptions {
  /** The native binding to use (tests pass a fake). */
  binding?: NativeBinding;
}

/** A watch of an eventfd; stop() ends it (idempotent). */
export interface EventFdWatch {
  stop(): void;
}

/** An eventfd number the caller owns, or an EventFd the library made. */
export type EventFdLike = number | EventFd;

export class EventFd {
  private fdNumber: number;
  private readonly watches = new Set<EventfdWatcher>();

  private constructor(
    private readonly binding: NativeBinding,
    fd: number,
  ) {
    this.fdNumber = fd;
  }

  /** A new eventfd (EFD_CLOEXEC | EFD_NONBLOCK), counter 0. */
  static create(options?: EventFdOptions): EventFd {
    const binding = toOptions<EventFdOptions>('options', options).binding ?? nativeBinding();
    return new EventFd(
      binding,
      callNative('creating an eventfd', () => binding.eventfdCreate()),
    );
  }

  /** The file descriptor; throws once closed. */
  get fd(): number {
    this.assertOpen();
    return this.fdNumber;
  }

  get closed(): boolean {
    return this.fdNumber < 0;
  }

  /** The counter (and resets it to 0), or 0n when nothing is pending: never blocks. */
  read(): bigint {
    this.assertOpen();
    return callNative('reading an eventfd', () => this.binding.eventfdRead(this.fdNumber));
  }

  /** Adds `value` (default 1) to the counter, as a device interrupt or KVM would. */
  write(value: bigint = 1n): void {
    this.assertOpen();
    if (typeof value !== 'bigint' || value < 1n || value > (1n << 64n) - 2n) {
      throw new InvalidArgumentError(
        `an eventfd write is a bigint in [1, 2^64 - 2], got ${describe(value)}`,
      );
    }
    callNative('writing an eventfd', () => this.binding.eventfdWrite(this.fdNumber, value));
  }

  /**
   * Calls `listener` with the counter each time the eventfd fires (reading it resets it, so a
   * watched eventfd is not also for read()). The watch never keeps the process alive.
   */
  watch(listener: (count: bigint) => void): EventFdWatch {
    this.assertOpen();
    if (typeof listener !== 'function') {
      throw new InvalidArgumentError(`listener must be a function, got ${describe(listener)}`);
    }
    const watcher = callNative('watching an eventfd', () =>
      this.binding.eventfdWatch(this.fdNumber, listener),
    );
    this.watches.add(watcher);
    return {
      stop: () => {
        this.watches.delete(watcher);
        watcher.stop();
      },
    };
  }

  /** Stops its watches and closes the fd (a device or KVM holding it keeps its own reference). */
  close(): void {
    if (this.closed) return;
    for (const watcher of this.watches) watcher.stop();
    this.watches.clear();
    const fd = this.fdNumber;
    this.fdNumber = -1;
    callNative('closing an eventfd', () => this.binding.closeFd(fd));
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError({ what: 'eventfd' });
  }
}

installDispose(EventFd, 'close');
