// The spy behind "refused before the kernel" (test/support/spy-binding.ts): it must see every
// native call the library makes, not only the IOMMU's, or a refusal that opened a group,
// read a device's config space or touched a BAR would pass for one that did nothing.
import { strict as assert } from 'node:assert';
import { Group } from '../../lib';
import { FakeKernel } from '../support/fake-binding';
import { PROCESS_QUERIES, kernelCalls, spyBinding } from '../support/spy-binding';

describe('the spy binding', function () {
  it('records group, device, config, region, MMIO and close calls', function () {
    const spied = spyBinding(new FakeKernel({ pageSize: 4096 }).binding());
    const group = Group.open(0, { binding: spied.binding });
    const device = group.openDevice('0000:01:00.0');
    device.readConfig(0, 16);
    const bar = device.mapRegion(0);
    bar.read32(0);
    bar.write32(4, 1);
    bar.unmap();
    device.close();
    group.close();
    for (const call of [
      'openGroup',
      'groupGetDeviceFd',
      'pread',
      'deviceGetRegionInfo',
      'mmapRegion',
      'mmioRead',
      'mmioWrite',
      'unmapRegion',
      'closeFd',
    ]) {
      assert.ok(spied.calls.includes(call), `${call} not recorded in ${spied.calls.join(', ')}`);
    }
    assert.deepEqual(kernelCalls(spied.calls), spied.calls, 'none of them is a process query');
  });

  it("leaves out of kernelCalls only the reads of the process's own state", function () {
    const spied = spyBinding(new FakeKernel({ pageSize: 4096 }).binding());
    const b = spied.binding;
    b.pageSize();
    b.vmLockedBytes();
    b.getMemlockLimit();
    b.hasCapIpcLock();
    const fd = b.openContainer();
    b.closeFd(fd);
    assert.deepEqual(spied.calls, [
      'pageSize',
      'vmLockedBytes',
      'getMemlockLimit',
      'hasCapIpcLock',
      'openContainer',
      'closeFd',
    ]);
    assert.deepEqual(kernelCalls(spied.calls), ['openContainer', 'closeFd']);
    for (const name of PROCESS_QUERIES) assert.equal(typeof b[name], 'function', name);
  });
});
