// The API fuzzer's environment over the fake kernel: simulated fork through the fake's pid,
// and the books of every open container held against the fake kernel's own state (regions,
// TCEs, windows, locked memory), which must agree exactly at every quiescent point.
import type { Container } from '../../lib';
import { v1DefaultEnableBytes } from '../../lib/memlock';
import type { FakeKernel } from '../support/fake-binding';
import type { ApiFuzzEnv, DefaultWindowState } from './api-fuzzer';

function stringify(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'bigint' ? `${v}n` : v instanceof Map ? [...v.entries()] : v,
  );
}

/** Where one container's books and the fake kernel disagree, or null. */
export function fakeBooksProblem(
  kernel: FakeKernel,
  c: Container,
  defaultWindow: DefaultWindowState,
): string | null {
  const k = kernel.inspect(c.fd);
  if (!k) return `container fd ${c.fd} is open in the library but not in the kernel`;
  if (k.type !== c.iommuType) return `IOMMU type: library ${c.iommuType}, kernel ${k.type}`;
  if (c.iommuType === null) {
    return k.locked === 0n ? null : `no IOMMU type, yet ${k.locked} bytes locked`;
  }
  // A region of the books is one kernel registration, or (registerAsync) consecutive blocks.
  let regionBytes = 0n;
  let blocks = 0;
  for (const r of c.regions()) {
    let at = r.address;
    while (at < r.address + r.size) {
      const size = k.regions.get(at);
      if (size === undefined) {
        return `region ${r.address.toString(16)}+${r.size}: ${at.toString(16)} is not registered in the kernel`;
      }
      at += size;
      blocks += 1;
    }
    if (at !== r.address + r.size)
      return `region ${r.address.toString(16)}: blocks run past its end`;
    regionBytes += r.size;
  }
  if (blocks !== k.regions.size) {
    return `the books' regions are ${blocks} kernel registrations; the kernel has ${k.regions.size}`;
  }
  let pages = 0;
  for (const m of c.mappings()) {
    for (let off = 0n; off < m.size; off += m.window.pageSize) {
      if (k.tces.get(m.iova + off) !== m.address + off) {
        return `IOVA ${(m.iova + off).toString(16)} of a booked mapping is not in the kernel's TCEs`;
      }
      pages += 1;
    }
  }
  if (pages !== k.tces.size) return `${pages} pages mapped in the books, ${k.tces.size} TCEs`;
  const windows = c.windows();
  for (const w of windows) {
    const kw = k.windows.find((x) => x.start === w.start);
    if (!kw) {
      if (w.isDefault && defaultWindow !== 'created') continue;
      return `window at ${w.start.toString(16)} is in the books, not in the kernel`;
    }
    if (kw.size !== w.size || 1n << BigInt(kw.shift) !== w.pageSize) {
      return `window at ${w.start.toString(16)} differs: books ${w.size}/${w.pageSize}, kernel ${kw.size}/${1n << BigInt(kw.shift)}`;
    }
    const predicted = c.windowCost(w.pageSize, w.size, w.levels);
    if (predicted !== kw.tableBytes) {
      return `window at ${w.start.toString(16)}: predicted ${predicted} bytes, charged ${kw.tableBytes}`;
    }
  }
  for (const kw of k.windows) {
    if (!windows.some((w) => w.start === kw.start)) {
      return `kernel window at ${kw.start.toString(16)} is missing from the books`;
    }
  }
  // The kernel's `enabled` is v1's ENABLE, or (v2) set by the first registration.
  const v1Enabled = k.type === 'v1' && k.enabled;
  if (c.iommuType === 'v1' && c.enabled !== v1Enabled) return 'v1 enable differs';
  // The registrations are charged once per process (an identical range is shared): this
  // container's charge holds the ones it pays for; checkBooks adds them up process-wide.
  const expected =
    k.paidRegionBytes +
    k.windows.reduce((sum, w) => sum + w.tableBytes, 0n) +
    (v1Enabled ? v1DefaultEnableBytes(BigInt(c.binding.pageSize())) : 0n);
  if (expected !== k.locked) return `books say ${expected} bytes locked, the kernel ${k.locked}`;
  if (k.paidRegionBytes > regionBytes) {
    return `the container pays for ${k.paidRegionBytes} bytes of registrations, holds ${regionBytes}`;
  }
  return null;
}

export function fakeEnv(kernel: FakeKernel, sysfsRoot?: string): ApiFuzzEnv {
  const parentPid = kernel.pid;
  let forks = 0;
  return {
    binding: kernel.binding(),
    groups: [
      { number: 0, devices: ['0000:01:00.0'] },
      { number: 1, devices: ['0001:01:00.0'] },
      { number: 2, devices: ['0002:01:00.0'] },
      { number: 7, devices: [] },
    ],
    fake: true,
    sysfsRoot,
    lockedBytes: () => kernel.locked,
    fork(forked) {
      // Each fork is a new child: what one child opened is not the next one's.
      kernel.pid = forked ? parentPid + (forks += 1) : parentPid;
    },
    kernelState: () =>
      new Map(kernel.containerFds().map((fd) => [fd, stringify(kernel.inspect(fd))])),
    checkBooks(containers: readonly Container[], defaultWindow, strandedBytes) {
      for (const c of containers) {
        const problem = fakeBooksProblem(kernel, c, defaultWindow(c));
        if (problem) return problem;
      }
      const open = new Set(containers.map((c) => c.fd));
      let total = 0n;
      const pinned = new Map<string, bigint>();
      for (const fd of kernel.containerFds()) {
        if (!open.has(fd)) return `container fd ${fd} is open in the kernel, closed in the library`;
        const k = kernel.inspect(fd);
        total += (k?.locked ?? 0n) - (k?.paidRegionBytes ?? 0n);
        for (const [address, size] of k?.regions ?? []) pinned.set(`${address}:${size}`, size);
      }
      // Each distinct registration of the process is charged once, whoever holds it.
      for (const size of pinned.values()) total += size;
      total += strandedBytes;
      return total === kernel.locked ? null : `${kernel.locked - total} bytes locked by nobody`;
    },
  };
}
