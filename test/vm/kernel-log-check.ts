// The kernel log's verdict on a VM run, run in the guest after mocha exits (scripts/test.js):
// judges what was logged after the suite's hooks last read the log (process exits tear down
// containers and mms), adds the findings the hooks kept, prints them all and one line
// `VFIO_KERNEL_LOG_RESULT {json}` that scripts/test.js counts into the run's summary.
// Exits 0 either way: the count is the verdict, and a missing line is a failure there.
//   node dist/test/vm/kernel-log-check.js [--whole-run]
// --whole-run: for runs without the suite's hooks (the bench): the whole log is judged, with
// the boot's allowances only.
import * as fs from 'node:fs';
import {
  KernelLogReader,
  formatFindings,
  judge,
  judgeTaint,
  readTaint,
  type Finding,
} from '../support/kernel-log';
import { KERNEL_LOG_ALLOWLIST } from './kernel-log-allowlist';
import { STATE_FILE, type KernelLogState } from './kernel-log-hooks';

/** Kernel lines of each finding in the result line (the full report is printed above it). */
const LINES_IN_RESULT = 8;

function readState(): KernelLogState | null {
  try {
    return JSON.parse(fs.readFileSync(STATE_FILE, 'utf8')) as KernelLogState;
  } catch {
    return null;
  }
}

function main(): void {
  const wholeRun = process.argv.includes('--whole-run');
  const state = wholeRun ? null : readState();
  const findings: Finding[] = [...(state?.findings ?? [])];
  const reader = new KernelLogReader();
  reader.lastSeq = state?.lastSeq ?? -1;
  const { records, lost } = reader.read();
  reader.close();
  if (state === null && !wholeRun) {
    // The hooks never ran (mocha died first, or ran without them): the whole log is judged,
    // with the boot's allowances only.
    findings.push({
      where: 'the run',
      lines: [`the suite's kernel-log hooks left no ${STATE_FILE}: the whole log is judged`],
    });
  }
  const where =
    state === null ? ({ phase: 'unattributed' } as const) : ({ phase: 'after' } as const);
  const verdict = judge(records, where, KERNEL_LOG_ALLOWLIST, lost);
  const own = [...verdict.findings, ...judgeTaint(state?.taint ?? 0, readTaint(), where, false)];
  findings.push(...own);
  if (findings.length > 0) console.log(formatFindings(findings));
  console.log(
    `kernel log: ${records.length} records after the suite, ${findings.length} finding(s) in the run`,
  );
  const result = {
    findings: findings.map((f) => ({ where: f.where, lines: f.lines.slice(0, LINES_IN_RESULT) })),
  };
  console.log(`VFIO_KERNEL_LOG_RESULT ${JSON.stringify(result)}`);
}

main();
