// The examples run here so they never rot.
import { strict as assert } from 'node:assert';
import { nativeBinding } from '../../lib/binding';
import { dmaRoundTrip } from '../../examples/dma-round-trip';
import { guestIommu } from '../../examples/guest-iommu';
import { memfdGuestRam } from '../../examples/memfd-guest-ram';
import { nvmeIdentify } from '../../examples/nvme-identify';
import { twoGroups } from '../../examples/two-groups';
import { vmmDevice } from '../../examples/vmm-device';
import { guest } from './guest';

describe('examples (real kernel)', function () {
  it('dma-round-trip: every step runs and the bytes come back', async function () {
    const lines: string[] = [];
    assert.equal(await dmaRoundTrip((line) => lines.push(line)), true, lines.join('\n'));
    assert.match(lines.join('\n'), /10\. verified: the bytes came back identical/);
  });

  it('memfd-guest-ram: registered once, mapped in a dynamic window, DMA seen through the memfd', async function () {
    const lines: string[] = [];
    const result = await memfdGuestRam((line) => lines.push(line), guest().edu[0].bdf);
    assert.equal(result.ok, true, lines.join('\n'));
    assert.equal(result.windowStart, 0x0800000000000000n);
    if (nativeBinding().pageSize() === 65536) {
      assert.equal(result.refused64K, false);
      assert.equal(result.iommuPageSize, 65536n);
    } else {
      // memfd memory is backed by the kernel's 4K pages: 64K IOMMU pages are refused first
      assert.equal(result.refused64K, true);
      assert.equal(result.iommuPageSize, 4096n);
      assert.match(lines.join('\n'), /64K IOMMU pages refused: ERR_VFIO_PAGE_SIZE: /);
    }
  });

  it('guest-iommu: slots, a guest DDW, the hypercalls, and edu DMA into the guest page a TCE names', async function () {
    const lines: string[] = [];
    const result = await guestIommu((line) => lines.push(line), guest().edu[0].bdf);
    assert.equal(result.ok, true, lines.join('\n'));
    assert.equal(result.lockedSteady, true, lines.join('\n'));
    assert.equal(result.dynamicWindowStart, 0x0800000000000000n);
    assert.equal(result.dynamicPageSize, BigInt(nativeBinding().pageSize()));
    assert.match(lines.join('\n'), /H_PUT_TCE -> H_SUCCESS/);
  });

  it('two-groups: one container, one mapping, both edu devices', async function () {
    const lines: string[] = [];
    assert.equal(await twoGroups((line) => lines.push(line)), true, lines.join('\n'));
    assert.equal(lines.filter((l) => /round trip identical$/.test(l)).length, 2, lines.join('\n'));
  });

  it("nvme-identify: the controller's model and serial, and namespace 1, through the NVMe driver", async function () {
    const lines: string[] = [];
    const result = await nvmeIdentify((line) => lines.push(line), guest().nvme[0].bdf);
    assert.equal(result.model, 'QEMU NVMe Ctrl', lines.join('\n'));
    assert.equal(result.serial, 'vfiospapr0001');
    assert.equal(result.vendorId, 0x1b36);
    // The rig's nvme.img: 64 MiB (scripts/rig/prepare.sh), QEMU's default 512-byte blocks
    assert.equal(result.blockSize, 512);
    assert.equal(result.blocks, (64n << 20n) / 512n);
    assert.match(lines.join('\n'), /^Identify Namespace 1: 131072 blocks of 512 bytes$/m);
  });

  it('vmm-device: BAR0 mapped whole, MSI and INTx (with a resamplefd) delivered to irqfds, a reset at guest reboot', async function () {
    const lines: string[] = [];
    const result = await vmmDevice((line) => lines.push(line), guest().edu[0].bdf);
    assert.deepEqual(
      result.regions,
      [{ name: 'BAR0', mapped: ['0x0+0x100000'], trapped: [] }],
      lines.join('\n'),
    );
    assert.equal(result.msi, 3);
    assert.equal(result.intx, 3);
    assert.equal(result.reset, 'function');
  });
});
