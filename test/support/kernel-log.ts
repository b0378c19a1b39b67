// The guest kernel's own verdict on a run: its log (/dev/kmsg) and its taint flags. A suite
// can pass while the kernel WARNs, oopses in a worker or reports corruption; these helpers
// read the log incrementally (one record per read, non-blocking) and pick out what says the
// kernel went wrong, unless the allowlist names the test that provokes it on purpose.
import * as fs from 'node:fs';

export interface KernelRecord {
  seq: number;
  /** 0 (emerg) to 7 (debug). */
  level: number;
  /** 0 for the kernel; 1 and up for userspace writes to /dev/kmsg. */
  facility: number;
  text: string;
}

/** One read of /dev/kmsg: "PRIO,SEQ,USEC,FLAGS[,...];TEXT\n[ KEY=VALUE\n...]". */
export function parseRecord(raw: string): KernelRecord | null {
  const match = /^(\d+),(\d+),\d+,[^;]*;([^\n]*)/.exec(raw);
  if (!match) return null;
  const prio = Number(match[1]);
  return { seq: Number(match[2]), level: prio & 7, facility: prio >> 3, text: match[3] };
}

/** Reads the records the kernel logged since the last call; never blocks. */
export class KernelLogReader {
  private readonly fd: number;
  private readonly buffer = Buffer.alloc(16384);
  /** The sequence number of the last record read (-1 before any). */
  lastSeq = -1;

  constructor(path = '/dev/kmsg') {
    this.fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  }

  /**
   * New records after `lastSeq`; `lost` counts records the ring buffer overwrote before they
   * could be read (the kernel answers EPIPE once, then resumes at the oldest it still has).
   */
  read(): { records: KernelRecord[]; lost: number } {
    const records: KernelRecord[] = [];
    let lost = 0;
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(this.fd, this.buffer, 0, this.buffer.length, null);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') break;
        if (code === 'EPIPE') continue;
        throw error;
      }
      if (n === 0) break;
      const record = parseRecord(this.buffer.toString('utf8', 0, n));
      if (!record || record.seq <= this.lastSeq) continue;
      if (record.seq > this.lastSeq + 1) lost += record.seq - this.lastSeq - 1;
      this.lastSeq = record.seq;
      records.push(record);
    }
    return { records, lost };
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** What in a kernel log says something went wrong, by name. */
const ALARMS: [string, RegExp][] = [
  ['a WARN', /\bWARNING:|-+\[ cut here \]-+/],
  ['a BUG', /\bBUG\b|kernel BUG at/],
  ['an Oops', /\bOops\b/],
  ['corruption', /corrupt/i],
  ['a sanitizer report', /\b(KASAN|UBSAN|KFENCE|KCSAN|KMSAN|kmemleak)\b/],
  ['a call trace', /\bCall Trace:/i],
  ['a panic', /Kernel panic/i],
  ['a stall or lockup', /soft lockup|hard LOCKUP|rcu.*stall|blocked for more than/i],
  ['a bad access', /Unable to handle kernel|general protection fault|\bBad page\b/],
  ['memory exhaustion', /page allocation failure|Out of memory|oom-kill/i],
  ['a crashed process', /\bsegfault at\b|unhandled signal/],
];
/** KERN_ERR and worse from the kernel itself are alarms too (userspace writes are not). */
const FIRST_QUIET_LEVEL = 4;

/** Why this record is an alarm, or null. */
export function alarm(record: KernelRecord): string | null {
  for (const [name, pattern] of ALARMS) if (pattern.test(record.text)) return name;
  if (record.facility === 0 && record.level < FIRST_QUIET_LEVEL) return 'a kernel error';
  return null;
}

/** Kernel taint flags, bit by bit (Documentation/admin-guide/tainted-kernels.rst). */
const TAINT_LETTERS = 'PFSRMBUDAWCIOELKXTN';
/** TAINT_WARN: set by every WARN. */
export const TAINT_WARN = 1 << 9;

export function readTaint(path = '/proc/sys/kernel/tainted'): number {
  return Number(fs.readFileSync(path, 'utf8').trim());
}

/** The flags as the kernel prints them ("W", "OE"), or "none". */
export function taintLetters(bits: number): string {
  let letters = '';
  for (let bit = 0; bit < 32; bit += 1) {
    if (bits & (1 << bit)) letters += TAINT_LETTERS[bit] ?? `(bit ${bit})`;
  }
  return letters || 'none';
}

/** A record the suite provokes on purpose, and what provokes it. */
export interface AllowedEntry {
  /** What the record says (for a WARN: its "WARNING: ... at FILE:LINE" line). */
  pattern: RegExp;
  /**
   * The spec file that provokes it, as in the source tree ('test/vm/faults.test.ts'), and
   * part of the provoking test's full title; or 'boot': the rig's kernel says it at boot.
   */
  provokedBy: { file: string; test: string } | 'boot';
  /** Why the kernel logs it and why that is expected. */
  why: string;
}

/**
 * When records were logged: at boot, in a test, between tests (hooks), after the suite; or
 * unattributed, when the suite's hooks never read the log (only the boot's allowances hold).
 */
export type Where =
  | { phase: 'boot' }
  | { phase: 'test'; file: string; test: string }
  | { phase: 'between'; files: string[] }
  | { phase: 'after' }
  | { phase: 'unattributed' };

export function describeWhere(where: Where): string {
  switch (where.phase) {
    case 'boot':
      return 'before the suite (boot and rig setup)';
    case 'test':
      return `in "${where.test}" (${specName(where.file)})`;
    case 'between':
      return `between tests (hooks of ${where.files.map(specName).join(' or ')})`;
    case 'after':
      return 'after the suite (process exit)';
    case 'unattributed':
      return 'in the run (unattributed)';
  }
}

/** 'test/vm/x.test.ts', '/pkg/dist/test/vm/x.test.js' -> 'vm/x.test'. */
export function specName(file: string): string {
  return file
    .replace(/\\/g, '/')
    .replace(/^.*?\btest\//, '')
    .replace(/\.(ts|js)$/, '');
}

function allows(entry: AllowedEntry, where: Where, text: string): boolean {
  if (!entry.pattern.test(text)) return false;
  if (entry.provokedBy === 'boot') return where.phase === 'boot' || where.phase === 'unattributed';
  return (
    where.phase === 'test' &&
    specName(where.file) === specName(entry.provokedBy.file) &&
    where.test.includes(entry.provokedBy.test)
  );
}

export interface Finding {
  where: string;
  /** What the alarm is, then the kernel's lines (a WARN's whole report). */
  lines: string[];
}

/** Lines shown of one report: a WARN's (registers, call trace) runs to about 45. */
const MAX_LINES = 60;

/**
 * Splits records into reports: a WARN or BUG from its "cut here" line to its "end trace"
 * line is one report, any other record a report of its own.
 */
function reports(records: KernelRecord[]): KernelRecord[][] {
  const out: KernelRecord[][] = [];
  let open: KernelRecord[] | null = null;
  for (const record of records) {
    if (/-+\[ cut here \]-+/.test(record.text)) {
      open = [record];
      out.push(open);
    } else if (open) {
      open.push(record);
      if (/---\[ end trace [0-9a-f]+ \]---/.test(record.text)) open = null;
    } else {
      out.push([record]);
    }
  }
  return out;
}

export interface Verdict {
  findings: Finding[];
  /** Whether a WARN the allowlist explains was among the records (it sets taint W). */
  allowedWarn: boolean;
}

/**
 * The alarms among `records` that the allowlist does not explain for `where`: a report is
 * explained when one of its lines matches an entry provoked there. `lost` records (overwritten
 * before they were read) are a finding: the log cannot then vouch for what happened.
 */
export function judge(
  records: KernelRecord[],
  where: Where,
  allowlist: readonly AllowedEntry[],
  lost = 0,
): Verdict {
  const label = describeWhere(where);
  const findings: Finding[] = [];
  if (lost > 0) {
    findings.push({
      where: label,
      lines: [`${lost} kernel log record(s) were overwritten before they could be read`],
    });
  }
  let allowedWarn = false;
  for (const report of reports(records)) {
    const alarms = report.map(alarm).filter((why) => why !== null);
    if (alarms.length === 0) continue;
    if (report.some((r) => allowlist.some((entry) => allows(entry, where, r.text)))) {
      allowedWarn ||= report.some((r) => /\bWARNING:/.test(r.text));
      continue;
    }
    const lines = report.map((r) => `<${r.level}> ${r.text}`);
    if (lines.length > MAX_LINES) lines.splice(MAX_LINES, Infinity, '...');
    findings.push({ where: label, lines: [`${alarms[0]}:`, ...lines] });
  }
  return { findings, allowedWarn };
}

/**
 * Taint bits set since `before` (taint is never cleared while the kernel runs), as a finding;
 * W is explained when the WARN that set it was an allowed one.
 */
export function judgeTaint(
  before: number,
  now: number,
  where: Where,
  allowedWarn: boolean,
): Finding[] {
  const added = now & ~before & ~(allowedWarn ? TAINT_WARN : 0);
  if (added === 0) return [];
  return [
    {
      where: describeWhere(where),
      lines: [`the kernel became tainted: ${taintLetters(added)} (flags now ${taintLetters(now)})`],
    },
  ];
}

/** The findings as the report prints them. */
export function formatFindings(findings: readonly Finding[]): string {
  return findings
    .map(
      (f) =>
        `kernel log ${f.where}: ${f.lines[0]}\n${f.lines
          .slice(1)
          .map((l) => `  | ${l}`)
          .join('\n')}`,
    )
    .join('\n');
}
