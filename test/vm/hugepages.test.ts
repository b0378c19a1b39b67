// hugetlbfs-backed memory (16 MiB pages on this MMU). On the 64K-page kernel it registers,
// maps with 16M IOMMU pages in a dynamic window, and edu DMAs through it. On the 4K-page
// kernel the registration ioctl never returns (the pin loops in hugetlb_fault): the library
// refuses it with a typed error, and a raw child shows the hang.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Container, DmaBuffer, HugetlbRegistrationError } from '../../lib';
import { nativeBinding } from '../../lib/binding';
import { Edu } from '../../lib/drivers/edu';
import { guest } from './guest';

const b = nativeBinding();

describe('huge pages (hugetlbfs, 16 MiB)', function () {
  let huge: number;
  before(function () {
    huge = b.hugePageSize();
    if (huge === 0) this.skip();
    fs.writeFileSync('/proc/sys/vm/nr_hugepages', '4');
    const reserved = Number(fs.readFileSync('/proc/sys/vm/nr_hugepages', 'utf8'));
    assert.ok(reserved >= 2, `only ${reserved} huge pages could be reserved`);
  });

  it('allocates a huge-page-backed DmaBuffer', function () {
    const buffer = DmaBuffer.allocate(huge, { backing: 'hugetlb' });
    assert.equal(buffer.backingPageSize, BigInt(huge));
    buffer.bytes().fill(7);
    assert.equal(buffer.bytes()[huge - 1], 7);
    buffer.free();
  });

  it('mem.hugetlb-4k-kernel: the library refuses the registration; the raw ioctl hangs until killed', async function () {
    if (b.pageSize() !== 4096) this.skip();
    const container = Container.open();
    const buffer = DmaBuffer.allocate(huge, { backing: 'hugetlb' });
    try {
      container.addGroup(guest().edu[1].group);
      container.setIommu('v2');
      assert.throws(() => container.register(buffer), HugetlbRegistrationError);
    } finally {
      container.close();
      buffer.free();
    }
    const child = spawn(process.execPath, [
      path.join(__dirname, 'children', 'hugetlb-register-raw.js'),
      String(guest().edu[1].group),
    ]);
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<string | null>((resolve) =>
      child.once('exit', (_c, s) => resolve(s)),
    );
    // Node starts slowly under emulation: wait for the child to reach the ioctl, then 5 s.
    for (let waited = 0; !output.includes('REGISTERING') && waited < 120000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await new Promise((resolve) => setTimeout(resolve, 5000));
    assert.deepEqual(output.trim().split('\n'), ['REGISTERING'], 'the register ioctl returned');
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
  });

  it('mem.hugetlb-64k-kernel: registers, maps with 16M IOMMU pages in a dynamic window, and DMAs', async function () {
    if (b.pageSize() < 65536) this.skip();
    const container = Container.open();
    const buffer = DmaBuffer.allocate(huge, { backing: 'hugetlb' });
    try {
      const group = container.addGroup(guest().edu[0].group);
      container.setIommu('v2');
      const region = container.register(buffer);
      const window = container.createWindow({ pageSize: BigInt(huge), size: 1n << 32n });
      container.map(region, window.start);
      const device = group.openDevice(guest().edu[0].bdf);
      device.enableBusMaster();
      const edu = new Edu(device);
      const bytes = buffer.bytes();
      for (let i = 0; i < 3000; i += 1) bytes[i] = (i * 13) & 0xff;
      await edu.toDevice(window.start, 3000);
      await edu.toRam(window.start + 0x10000n, 3000);
      assert.deepEqual(bytes.subarray(0x10000, 0x10000 + 3000), bytes.subarray(0, 3000));
    } finally {
      container.close();
      buffer.free();
    }
  });
});
