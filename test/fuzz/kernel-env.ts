// The API fuzzer's environment on a real kernel: the books of the open containers held
// against VmLck. A registration is charged once per process however many containers hold it
// (the kernel's mm keeps one pin); each container's windows are charged their TCE tables.
import { type Container } from '../../lib';
import { nativeBinding } from '../../lib/binding';
import type { ApiFuzzEnv, DefaultWindowState } from './api-fuzzer';

/** Every total VmLck may show for these books (a default window in state 'unknown' may exist). */
export function possibleLockedBytes(
  containers: readonly Container[],
  defaultWindow: (c: Container) => DefaultWindowState,
): bigint[] {
  const regions = new Map<string, bigint>();
  let totals = [0n];
  for (const c of containers) {
    if (c.iommuType === null) continue;
    for (const r of c.regions()) regions.set(`${r.address}:${r.size}`, r.size);
    for (const w of c.windows()) {
      const cost = c.windowCost(w.pageSize, w.size, w.levels);
      const state = w.isDefault ? defaultWindow(c) : 'created';
      if (state === 'created') totals = totals.map((t) => t + cost);
      else if (state === 'unknown') totals = [...totals, ...totals.map((t) => t + cost)];
    }
  }
  const registered = [...regions.values()].reduce((a, b) => a + b, 0n);
  return totals.map((t) => t + registered);
}

export function kernelEnv(groups: { number: number; devices: string[] }[]): ApiFuzzEnv {
  const binding = nativeBinding();
  const start = binding.vmLockedBytes();
  return {
    binding,
    groups,
    fake: false,
    lockedBytes: () => binding.vmLockedBytes(),
    checkBooks(containers, defaultWindow, strandedBytes) {
      const locked = binding.vmLockedBytes() - start;
      const possible = possibleLockedBytes(containers, defaultWindow).map((t) => t + strandedBytes);
      return possible.includes(locked)
        ? null
        : `VmLck is ${locked} bytes above its start; the books say ${possible.join(' or ')}`;
    },
  };
}
