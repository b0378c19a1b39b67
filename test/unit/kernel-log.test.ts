// The kernel-log check's judgement (test/support/kernel-log.ts), on records shaped as the
// guest's /dev/kmsg gives them; the VM suite runs the same code on the real log every run.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  TAINT_WARN,
  judge,
  judgeTaint,
  parseRecord,
  taintLetters,
  type AllowedEntry,
  type KernelRecord,
  type Where,
} from '../support/kernel-log';
import { KERNEL_LOG_ALLOWLIST } from '../vm/kernel-log-allowlist';

const ROOT = path.resolve(__dirname, '..', '..', '..');

let seq = 100;
/** Records as the kernel logs them: "<level>text" lines, facility 0 (the kernel). */
function log(...lines: string[]): KernelRecord[] {
  return lines.map((line) => {
    const [, level, text] = /^<(\d)>(.*)$/.exec(line) as RegExpExecArray;
    return { seq: (seq += 1), level: Number(level), facility: 0, text };
  });
}

const WARN_REPORT = [
  '<4>------------[ cut here ]------------',
  '<4>WARNING: CPU: 1 PID: 197 at mm/vmalloc.c:3790 __vmalloc_node_range_noprof+0x940/0x9f4',
  '<4>Modules linked in: vfio_pci vfio_pci_core vfio_iommu_spapr_tce vfio',
  '<4>Call Trace:',
  '<4>[c00000002903f790] [c000000000099b24] mm_iommu_do_alloc+0x28c/0x568',
  '<4>---[ end trace 0000000000000000 ]---',
];

const ENTRY: AllowedEntry = {
  pattern: /WARNING: .* at mm\/vmalloc\.c:\d+ __vmalloc_node_range/,
  provokedBy: { file: 'test/vm/kernel-facts.test.ts', test: 'size 0: ENOMEM' },
  why: 'test',
};

const inTest = (file: string, test: string): Where => ({ phase: 'test', file, test });
const FACTS_JS = '/pkg/dist/test/vm/kernel-facts.test.js';

describe('kernel log check', function () {
  it('parses /dev/kmsg records: level, facility, sequence, text (dictionary lines dropped)', function () {
    assert.deepEqual(
      parseRecord('3,960,345843450,-;Failed to allocate a TCE memory\n SUBSYSTEM=pci\n'),
      {
        seq: 960,
        level: 3,
        facility: 0,
        text: 'Failed to allocate a TCE memory',
      },
    );
    assert.deepEqual(parseRecord('12,7,1,c;from userspace\n'), {
      seq: 7,
      level: 4,
      facility: 1,
      text: 'from userspace',
    });
    assert.equal(parseRecord('garbage'), null);
  });

  it('a WARN is one finding with its whole report, wherever no entry allows it', function () {
    const { findings, allowedWarn } = judge(
      log('<6>pci 0000:01: [PE# fd] Removing DMA window #0', ...WARN_REPORT),
      inTest('/pkg/dist/test/vm/dma.test.js', 'DMA through edu round-trips'),
      [ENTRY],
    );
    assert.equal(findings.length, 1);
    assert.equal(findings[0].where, 'in "DMA through edu round-trips" (vm/dma.test)');
    assert.equal(findings[0].lines[0], 'a WARN:');
    assert.deepEqual(
      findings[0].lines.slice(1),
      WARN_REPORT.map((l) => l.replace(/^<4>/, '<4> ')),
    );
    assert.equal(allowedWarn, false);
  });

  it('the allowlist explains a whole report only in the test and file it names', function () {
    const title =
      'kernel facts v2 memory registration misaligned vaddr or size: EINVAL; size 0: ENOMEM';
    const allowed = judge(log(...WARN_REPORT), inTest(FACTS_JS, title), [ENTRY]);
    assert.deepEqual(allowed, { findings: [], allowedWarn: true });
    const otherTest = judge(log(...WARN_REPORT), inTest(FACTS_JS, 'kernel facts devices edu'), [
      ENTRY,
    ]);
    assert.equal(otherTest.findings.length, 1);
    const otherFile = judge(log(...WARN_REPORT), inTest('/pkg/dist/test/vm/fuzz.test.js', title), [
      ENTRY,
    ]);
    assert.equal(otherFile.findings.length, 1);
    const afterSuite = judge(log(...WARN_REPORT), { phase: 'after' }, [ENTRY]);
    assert.equal(afterSuite.findings.length, 1);
  });

  it('names BUGs, Oopses, corruption, sanitizers, lockups, crashes and kernel errors; not info or userspace errors', function () {
    const alarms = log(
      '<0>kernel BUG at mm/slub.c:1!',
      '<4>Oops: Kernel access of bad area, sig: 11 [#1]',
      '<3>list_add corruption. prev->next should be next',
      '<3>BUG: KASAN: use-after-free in tce_iommu_ioctl',
      '<0>watchdog: BUG: soft lockup - CPU#0 stuck for 22s!',
      '<6>node[312]: unhandled signal 11 at 0000000000000000 nip 00003fff lr 00003fff code 1',
      '<3>Failed to allocate a TCE memory, level shift=25',
    );
    const quiet = log(
      '<4>vfio-pci 0001:01:00.0: No device request channel registered, blocked until released by user',
      '<6>pci 0000:01: [PE# fd] Setting up window#0 0..7fffffff pg=1000',
    );
    const user: KernelRecord = { seq: 1, level: 3, facility: 1, text: 'an error a daemon logged' };
    const where = inTest(FACTS_JS, 'any');
    const found = judge([...alarms, ...quiet, user], where, []).findings.map((f) => f.lines[0]);
    assert.deepEqual(found, [
      'a BUG:',
      'an Oops:',
      'corruption:',
      'a BUG:',
      'a BUG:',
      'a crashed process:',
      'a kernel error:',
    ]);
  });

  it('records the ring buffer lost before they were read are a finding', function () {
    const { findings } = judge([], { phase: 'boot' }, [], 3);
    assert.match(findings[0].lines[0], /^3 kernel log record\(s\) were overwritten/);
  });

  it('a new taint is a finding, but W not when an allowed WARN set it', function () {
    const where = inTest(FACTS_JS, 'size 0: ENOMEM');
    assert.deepEqual(judgeTaint(TAINT_WARN, TAINT_WARN, where, false), []);
    assert.match(judgeTaint(0, TAINT_WARN, where, false)[0].lines[0], /tainted: W \(flags now W\)/);
    assert.deepEqual(judgeTaint(0, TAINT_WARN, where, true), []);
    const proprietary = judgeTaint(0, TAINT_WARN | 1, where, true);
    assert.match(proprietary[0].lines[0], /tainted: P \(flags now PW\)/);
    assert.equal(taintLetters((1 << 12) | (1 << 13)), 'OE');
    assert.equal(taintLetters(0), 'none');
  });

  it('every allowlist entry names a test that exists, and says why', function () {
    for (const entry of KERNEL_LOG_ALLOWLIST) {
      assert.ok(entry.why.length > 40, `${entry.pattern}: say why`);
      if (entry.provokedBy === 'boot') continue;
      const source = fs.readFileSync(path.join(ROOT, entry.provokedBy.file), 'utf8');
      assert.ok(
        source.includes(entry.provokedBy.test),
        `${entry.provokedBy.file} has no test titled "...${entry.provokedBy.test}..."`,
      );
    }
  });
});
