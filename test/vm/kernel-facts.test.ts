// The rows of docs/kernel.md that `vfio-spapr conformance` does not measure, re-measured
// through the raw binding (no library policy in the way): the ioctl encoding, how the native
// layer reports the +1 return, the devices, EEH. Every other row is measured by the command
// itself, on this kernel, in test/vm/conformance.test.ts. Each test names its rows.
import { strict as assert } from 'node:assert';
import { nativeBinding, type NativeError } from '../../lib/binding';
import { guest } from './guest';

const b = nativeBinding();
const c = b.constants;
const MiB = 1n << 20n;
const RW = 3;

interface Raw {
  container: number;
  groups: number[];
  close(): void;
}

/** A container with the first edu group (or all given), IOMMU type v2. */
function openRaw(groupNumbers = [guest().edu[0].group]): Raw {
  const container = b.openContainer();
  const groups = groupNumbers.map((n) => b.openGroup(n));
  for (const g of groups) b.groupSetContainer(g, container);
  b.setIommu(container, c.VFIO_SPAPR_TCE_v2_IOMMU);
  return {
    container,
    groups,
    close() {
      for (const g of groups) b.closeFd(g);
      b.closeFd(container);
    },
  };
}

describe('kernel facts (raw binding, real kernel)', function () {
  let raw: Raw | null = null;
  afterEach(function () {
    raw?.close();
    raw = null;
  });

  it('abi.ioctl-numbers: the target encodings from <linux/vfio.h> (powerpc sets bit 29)', function () {
    assert.equal(b.targetArch, 'ppc64le');
    assert.equal(c.ioctls.VFIO_GET_API_VERSION, 0x20003b64);
    assert.equal(c.ioctls.VFIO_SET_IOMMU, 0x20003b66);
    assert.equal(c.ioctls.VFIO_IOMMU_SPAPR_REGISTER_MEMORY, 0x20003b75);
  });

  it('map.misaligned-iova: the native layer reports the +1 return as a failure with returnValue 1', function () {
    raw = openRaw();
    const { buffer, address } = b.allocBuffer(65536, 'anonymous');
    try {
      b.registerMemory(raw.container, address, 65536n);
      let error: NativeError | undefined;
      try {
        b.mapDma(raw.container, address, 0x100800n, 4096n, RW);
      } catch (e) {
        error = e as NativeError;
      }
      // map.misaligned-iova: +1, not -1 with an errno; the binding makes it a NativeError
      assert.equal(error?.code, 'ERR_VFIO_UNEXPECTED_RETURN');
      assert.equal(error?.returnValue, 1);
      assert.equal(error?.ioctl, 'VFIO_IOMMU_MAP_DMA');
    } finally {
      raw.close();
      raw = null;
      b.freeBuffer(buffer);
    }
  });

  describe('devices', function () {
    it('device.edu-info: flags 0x3, 9 regions, 5 irqs; BAR0 1 MiB, flags 0x7', function () {
      raw = openRaw();
      const dev = b.groupGetDeviceFd(raw.groups[0], guest().edu[0].bdf);
      try {
        assert.deepEqual(b.deviceGetInfo(dev), { flags: 3, numRegions: 9, numIrqs: 5 });
        const bar0 = b.deviceGetRegionInfo(dev, 0);
        assert.equal(bar0.size, MiB);
        assert.equal(bar0.flags, 7);
      } finally {
        b.closeFd(dev);
      }
    });

    it('device.nvme-bar0: BAR0 16 KiB, flags 0xf, with a capability chain', function () {
      const nvme = guest().nvme[0];
      if (!nvme) this.skip();
      raw = openRaw([nvme.group]);
      const dev = b.groupGetDeviceFd(raw.groups[0], nvme.bdf);
      try {
        const bar0 = b.deviceGetRegionInfo(dev, 0);
        assert.equal(bar0.size, 16384n);
        assert.equal(bar0.flags, 0xf);
        assert.ok(bar0.capabilities.length > 0, 'BAR0 has capabilities');
      } finally {
        b.closeFd(dev);
      }
    });
  });

  describe('EEH', function () {
    it('eeh.pe-ops: every PE operation returns 0 (PHB4: injection is EIO) and the emulated PHB never freezes the PE', function () {
      raw = openRaw();
      const fd = raw.container;
      assert.equal(b.checkExtension(fd, c.VFIO_EEH), 1);
      const outcomes: Record<string, number | string> = {};
      const run = (name: keyof typeof c & `VFIO_EEH_PE_${string}`, label: string = name) => {
        try {
          outcomes[label] = b.eehPeOp(fd, c[name] as number, {
            type: 0,
            func: 0,
            addr: 0n,
            mask: 0n,
          });
        } catch (error) {
          outcomes[label] = (error as NativeError).code;
        }
      };
      run('VFIO_EEH_PE_ENABLE');
      run('VFIO_EEH_PE_GET_STATE', 'state before');
      run('VFIO_EEH_PE_INJECT_ERR');
      run('VFIO_EEH_PE_GET_STATE', 'state after');
      run('VFIO_EEH_PE_UNFREEZE_IO');
      run('VFIO_EEH_PE_UNFREEZE_DMA');
      run('VFIO_EEH_PE_RESET_HOT');
      run('VFIO_EEH_PE_RESET_DEACTIVATE');
      run('VFIO_EEH_PE_CONFIGURE');
      run('VFIO_EEH_PE_DISABLE');
      // Measured: skiboot's PHB4 (powernv9) does not implement error injection.
      const injection = guest().power === 9 ? 'EIO' : 0;
      assert.deepEqual(outcomes, {
        VFIO_EEH_PE_ENABLE: 0,
        'state before': 0,
        VFIO_EEH_PE_INJECT_ERR: injection,
        'state after': 0,
        VFIO_EEH_PE_UNFREEZE_IO: 0,
        VFIO_EEH_PE_UNFREEZE_DMA: 0,
        VFIO_EEH_PE_RESET_HOT: 0,
        VFIO_EEH_PE_RESET_DEACTIVATE: 0,
        VFIO_EEH_PE_CONFIGURE: 0,
        VFIO_EEH_PE_DISABLE: 0,
      });
    });
  });
});
