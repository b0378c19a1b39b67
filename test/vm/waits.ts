// Waiting in the VM tests for what a device does on its own time: an event, an eventfd count.
import type { EventFd } from '../../lib';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `promise`, or a failure naming `what` after `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: none within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Reads an eventfd the test owns (no watcher) until it has counted something. */
export async function nextCount(fd: EventFd, what: string): Promise<bigint> {
  for (let waited = 0; waited < 10000; waited += 1) {
    const count = fd.read();
    if (count > 0n) return count;
    await sleep(1);
  }
  throw new Error(`${what}: no event within 10 s`);
}
