// One row of the kernel table (docs/kernel.md) that `vfio-spapr conformance` measures on the
// host it runs on: the case, the result Linux 6.12 gives, what the library does with it, and
// the measurement, made through the raw binding so no library policy stands in the way.
import type { Probe } from './probe';

export type Section = 'container' | 'v1' | 'registration' | 'mapping' | 'windows';

/** The host a row runs on, as far as rows differ by it. */
export interface HostFacts {
  /** The kernel's page size: 4096 or 65536 on ppc64le. */
  pageSize: bigint;
  /** 8 (PHB3) or 9 (PHB4), from /proc/cpuinfo; null on anything else. */
  power: number | null;
  capIpcLock: boolean;
  /** MAX_PAGE_ORDER from /proc/buddyinfo, or -1. */
  maxPageOrder: number;
}

/** What a row needs of the host; a row whose needs are not met is skipped with the reason. */
export interface Needs {
  /** true: CAP_IPC_LOCK (root); false: a user without it (the limit applies). */
  capIpcLock?: boolean;
  /** Two IOMMU groups (multi-group rows). */
  twoGroups?: boolean;
  /** Dynamic DMA windows (the DDW flag of a v2 container). */
  ddw?: boolean;
  /** Locked memory the row charges at its peak, on top of what is locked already. */
  lockedBytes?: (host: HostFacts) => bigint;
  /**
   * Runs in a child process: its kernel effects (a leaked pin, a stranded charge) last
   * until the process exits, so they end with the child and not with the caller.
   */
  isolated?: boolean;
  /** Spawns a child process of its own (the other-process row). */
  spawns?: boolean;
}

export interface Row {
  /** Stable id, e.g. `reg.same-range`: docs/kernel.md and the VM tests name rows by it. */
  id: string;
  section: Section;
  /** The case, as the table states it. */
  title: string;
  /** The result on 6.12, as the table states it. */
  expected: string;
  /** The result expected on this host, where it depends on the page size or the PHB. */
  expectedOn?: (host: HostFacts) => string;
  /** What the library does: builds on it (`relies`) or refuses it itself (`protects`). */
  library: { relies: string } | { protects: string };
  needs?: Needs;
  /** Measures the row on the host; returns what was seen, in the words of `expected`. */
  measure(probe: Probe): string | Promise<string>;
}

/** Thrown by a measurement that finds the host cannot run it (a row cannot always know up front). */
export class SkipRow extends Error {}

export function relies(row: Row): boolean {
  return 'relies' in row.library;
}

/** The library cell of the table: `relies: ...` or `protects: ...`. */
export function libraryText(row: Row): string {
  return 'relies' in row.library
    ? `relies: ${row.library.relies}`
    : `protects: ${row.library.protects}`;
}

export function expectedOn(row: Row, host: HostFacts): string {
  return row.expectedOn ? row.expectedOn(host) : row.expected;
}
