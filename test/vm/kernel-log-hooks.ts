// Mocha root hooks for the VM suite (scripts/test.js --require's this file): the guest
// kernel's log and taint flags are read before the first test, around every test and after
// the last, and whatever says the kernel went wrong is a finding unless the allowlist names
// the test that provokes it. Findings are printed as they happen and kept, with how far the
// log was read, in STATE_FILE, where kernel-log-check.js (run after mocha exits) takes over:
// it judges what the process exits logged and reports every finding of the run.
import * as fs from 'node:fs';
import {
  KernelLogReader,
  formatFindings,
  judge,
  judgeTaint,
  readTaint,
  type Finding,
  type Where,
} from '../support/kernel-log';
import { KERNEL_LOG_ALLOWLIST } from './kernel-log-allowlist';

export const STATE_FILE = '/tmp/vfio-kernel-log.json';

export interface KernelLogState {
  /** The last record read. */
  lastSeq: number;
  /** The taint flags at that moment. */
  taint: number;
  findings: Finding[];
}

let reader: KernelLogReader | null = null;
/** The kernel boots untainted: any flag is new. */
let taint = 0;
const findings: Finding[] = [];
let lastFile: string | null = null;

function check(where: Where): void {
  if (!reader) throw new Error('kernel log: the reader was not opened');
  const { records, lost } = reader.read();
  const verdict = judge(records, where, KERNEL_LOG_ALLOWLIST, lost);
  const now = readTaint();
  const found = [...verdict.findings, ...judgeTaint(taint, now, where, verdict.allowedWarn)];
  taint = now;
  if (found.length > 0) {
    findings.push(...found);
    console.log(formatFindings(found));
  }
  const state: KernelLogState = { lastSeq: reader.lastSeq, taint, findings };
  fs.writeFileSync(STATE_FILE, JSON.stringify(state));
}

export const mochaHooks = {
  beforeAll(this: Mocha.Context): void {
    reader = new KernelLogReader();
    check({ phase: 'boot' });
  },
  beforeEach(this: Mocha.Context): void {
    const file = this.currentTest?.file ?? '';
    check({ phase: 'between', files: [...new Set([lastFile ?? file, file])] });
    lastFile = file;
  },
  afterEach(this: Mocha.Context): void {
    const test = this.currentTest;
    check({ phase: 'test', file: test?.file ?? '', test: test?.fullTitle() ?? '' });
  },
  afterAll(this: Mocha.Context): void {
    check({ phase: 'after' });
    reader?.close();
    reader = null;
  },
};
