// Runs the conformance rows against the host: each row in its own probe (whatever it opens is
// closed when it ends), its needs checked first, locked memory compared before and after.
// Rows whose kernel effects last until exit run together in one child process.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { NativeBinding } from '../binding';
import { formatBytes } from '../cli/sizes';
import { GroupNotViableError } from '../errors';
import { Group } from '../group';
import { readMemlockStatus } from '../memlock';
import { Probe } from './probe';
import { SkipRow, expectedOn, libraryText, relies, type HostFacts, type Row } from './row';
import { CONFORMANCE_ROWS } from './rows';

export type RowOutcome = 'pass' | 'differs' | 'skipped';

export interface RowResult {
  id: string;
  section: string;
  title: string;
  /** What this host should show (the table's result, for its page size and PHB). */
  expected: string;
  seen: string | null;
  outcome: RowOutcome;
  /** Why a row was skipped. */
  reason?: string;
  /** The library builds on this row: a difference makes the run fail. */
  relies: boolean;
  library: string;
  /** Locked memory after the row equals before it; null where the row ran in a child process. */
  lockedBack: boolean | null;
}

export interface HostReport extends HostFacts {
  kernel: string;
  uid: number | null;
  ddw: boolean;
}

export interface ConformanceOptions {
  binding: NativeBinding;
  groups: readonly number[];
  procRoot?: string;
  /** Called as each row ends (a person at a console waits on them). */
  onRow?: (result: RowResult) => void;
  /**
   * Where rows with lasting kernel effects run: 'child' (a child process, the default),
   * 'here' (this process is that child), 'none' (skipped: a fake binding has no processes).
   */
  isolation?: 'child' | 'here' | 'none';
  /** Only these rows (ids); default all. */
  only?: readonly string[];
}

export interface ConformanceReport {
  host: HostReport;
  groups: readonly number[];
  rows: RowResult[];
  lockedAtStart: bigint;
  lockedAtEnd: bigint;
}

const CHILD = path.join(__dirname, 'child.js');

/** 8 or 9 from /proc/cpuinfo's "cpu : POWER8..." line; null elsewhere. */
export function powerGeneration(procRoot = '/proc'): number | null {
  try {
    const match = /^cpu\s*:\s*POWER(\d+)/m.exec(
      fs.readFileSync(path.join(procRoot, 'cpuinfo'), 'utf8'),
    );
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

export function hostFacts(binding: NativeBinding, procRoot = '/proc'): HostFacts {
  return {
    pageSize: BigInt(binding.pageSize()),
    power: powerGeneration(procRoot),
    capIpcLock: binding.hasCapIpcLock(),
    maxPageOrder: binding.maxPageOrder(),
  };
}

/** Why a row cannot run here, or null. */
function unmet(
  row: Row,
  host: HostReport,
  groups: readonly number[],
  binding: NativeBinding,
  isolation: string,
): string | null {
  const needs = row.needs ?? {};
  if (needs.capIpcLock === true && !host.capIpcLock) {
    return 'needs CAP_IPC_LOCK: run as root to measure it';
  }
  if (needs.capIpcLock === false && host.capIpcLock) {
    return 'needs a user without CAP_IPC_LOCK (the limit applies): run again as a non-root user';
  }
  if (needs.twoGroups && groups.length < 2) return 'needs two IOMMU groups: name two groups';
  if (needs.ddw && !host.ddw) return 'the host offers no dynamic DMA windows (no DDW flag)';
  if (needs.isolated && isolation === 'none') return 'runs in a child process: none here';
  if (needs.spawns && isolation === 'none') return 'spawns a child process: none here';
  if (needs.lockedBytes && !host.capIpcLock) {
    const status = readMemlockStatus(binding);
    const bytes = needs.lockedBytes(host);
    if (status.limit !== null && status.locked + bytes > status.limit) {
      return (
        `needs ${formatBytes(bytes)} of locked memory and RLIMIT_MEMLOCK leaves ` +
        `${formatBytes(status.limit > status.locked ? status.limit - status.locked : 0n)}: ` +
        'raise `ulimit -l` or run as root to measure it'
      );
    }
  }
  return null;
}

function spawnChild(args: string[], fds: number[]): string {
  const child = spawnSync(process.execPath, [CHILD, ...args], {
    stdio: ['ignore', 'pipe', 'pipe', ...fds],
    encoding: 'utf8',
    timeout: 120000,
  });
  if (child.status !== 0) {
    throw new Error(`the child process failed (status ${child.status}): ${child.stderr.trim()}`);
  }
  return child.stdout;
}

/** A row's result: the row's own cells, and what this run found. */
function resultOf(
  row: Row,
  host: HostFacts,
  found: Pick<RowResult, 'seen' | 'outcome' | 'reason' | 'lockedBack'>,
): RowResult {
  return {
    id: row.id,
    section: row.section,
    title: row.title,
    expected: expectedOn(row, host),
    relies: relies(row),
    library: libraryText(row),
    ...found,
  };
}

/** Runs one row here, in a probe of its own. */
async function runRow(row: Row, probe: Probe, isolated: boolean): Promise<RowResult> {
  const before = probe.b.vmLockedBytes();
  let seen: string;
  try {
    seen = await row.measure(probe);
  } catch (error) {
    if (error instanceof SkipRow) {
      probe.dispose();
      return resultOf(row, probe.host, {
        seen: null,
        outcome: 'skipped',
        reason: error.message,
        lockedBack: true,
      });
    }
    // A step the row takes for granted failed: the kernel does not do what the row assumes.
    const e = error as { code?: unknown; message?: unknown };
    seen = `${typeof e.code === 'string' ? `${e.code}: ` : ''}${String(e.message)}`;
  }
  probe.dispose();
  return resultOf(row, probe.host, {
    seen,
    outcome: seen === expectedOn(row, probe.host) ? 'pass' : 'differs',
    lockedBack: isolated ? null : probe.b.vmLockedBytes() === before,
  });
}

/** Opens each group once, before any row: it must exist, be free and be viable. */
function checkGroups(binding: NativeBinding, groups: readonly number[]): void {
  for (const number of groups) {
    const group = Group.open(number, { binding });
    try {
      if (!group.status().viable) {
        throw new GroupNotViableError({ group: number });
      }
    } finally {
      group.close();
    }
  }
}

function ddwOffered(binding: NativeBinding, group: number): boolean {
  const fd = binding.openContainer();
  const g = binding.openGroup(group);
  try {
    binding.groupSetContainer(g, fd);
    binding.setIommu(fd, binding.constants.VFIO_SPAPR_TCE_v2_IOMMU);
    return (binding.spaprTceGetInfo(fd).flags & binding.constants.VFIO_IOMMU_SPAPR_INFO_DDW) !== 0;
  } catch {
    return false;
  } finally {
    binding.closeFd(g);
    binding.closeFd(fd);
  }
}

export async function runConformance(options: ConformanceOptions): Promise<ConformanceReport> {
  const { binding, groups } = options;
  const isolation = options.isolation ?? 'child';
  checkGroups(binding, groups);
  const host: HostReport = {
    ...hostFacts(binding, options.procRoot),
    kernel: os.release(),
    uid: typeof process.getuid === 'function' ? process.getuid() : null,
    ddw: ddwOffered(binding, groups[0]),
  };
  const rows = CONFORMANCE_ROWS.filter((r) => !options.only || options.only.includes(r.id));
  const lockedAtStart = binding.vmLockedBytes();
  const results: RowResult[] = [];
  let childResults: Map<string, RowResult> | null = null;
  for (const row of rows) {
    const reason = unmet(row, host, groups, binding, isolation);
    let result: RowResult;
    if (reason !== null) {
      result = resultOf(row, host, { seen: null, outcome: 'skipped', reason, lockedBack: true });
    } else if (row.needs?.isolated && isolation === 'child') {
      childResults ??= runIsolated(rows, host, groups, binding);
      result = childResults.get(row.id) as RowResult;
    } else {
      const probe = new Probe(binding, host, groups, isolation === 'none' ? null : spawnChild);
      result = await runRow(row, probe, isolation === 'here');
    }
    results.push(result);
    options.onRow?.(result);
  }
  return { host, groups, rows: results, lockedAtStart, lockedAtEnd: binding.vmLockedBytes() };
}

/** The isolated rows that can run here, all in one child process; their results by id. */
function runIsolated(
  rows: readonly Row[],
  host: HostReport,
  groups: readonly number[],
  binding: NativeBinding,
): Map<string, RowResult> {
  const ids = rows
    .filter((r) => r.needs?.isolated && unmet(r, host, groups, binding, 'child') === null)
    .map((r) => r.id);
  try {
    const output = spawnChild(['--groups', groups.join(','), '--rows', ids.join(',')], []);
    const report = JSON.parse(output) as { rows: RowResult[] };
    return new Map(report.rows.map((r) => [r.id, r]));
  } catch (error) {
    const seen = `the child process that measures it failed: ${(error as Error).message}`;
    return new Map(
      rows
        .filter((r) => ids.includes(r.id))
        .map((r) => [r.id, resultOf(r, host, { seen, outcome: 'differs', lockedBack: null })]),
    );
  }
}
