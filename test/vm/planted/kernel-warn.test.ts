// Planted on purpose, never part of the default run (the VM suite's glob is
// dist/test/vm/*.test.js; this file is one directory down). It puts a WARN report into the
// guest kernel's log and sets the taint flag a WARN sets, to prove that the run's kernel-log
// check fails it and prints the lines. Run it alone or beside real tests:
//   node scripts/test.js --vm-only --machine powernv8 --kernel 4k \
//     --files vm/planted/kernel-warn.test.js,vm/v1.test.js
// Debian's 6.12 ppc64el kernels are built without LKDTM (CONFIG_LKDTM is not set), the
// module that triggers a real WARN on request, so this is the closest real way: root writes
// the report to /dev/kmsg as the kernel prints a WARN, and sets TAINT_WARN through
// /proc/sys/kernel/tainted, which ORs bits into the kernel's taint flags.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { TAINT_WARN, readTaint } from '../../support/kernel-log';

const REPORT = [
  '------------[ cut here ]------------',
  `WARNING: CPU: 0 PID: ${process.pid} at drivers/vfio/vfio_iommu_spapr_tce.c:1 planted_by_vfio_spapr_test+0x0/0x10 [vfio_iommu_spapr_tce]`,
  'Modules linked in: vfio_pci vfio_pci_core vfio_iommu_spapr_tce vfio',
  'Call Trace:',
  '[c000000000000000] [c000000000000000] planted_by_vfio_spapr_test+0x0/0x10 (unreliable)',
  '---[ end trace 0000000000000000 ]---',
];

describe('planted: a WARN in the guest kernel (the run must fail)', function () {
  it('logs a WARN report and sets the W taint, as a kernel WARN does', function () {
    // One write per record, at KERN_WARNING as the kernel logs a WARN.
    for (const line of REPORT) fs.writeFileSync('/dev/kmsg', `<4>${line}\n`);
    fs.writeFileSync('/proc/sys/kernel/tainted', String(TAINT_WARN));
    assert.ok(readTaint() & TAINT_WARN, 'the kernel carries taint W');
  });
});
