import { strict as assert } from 'node:assert';
import { MemlockLimitError } from '../../lib/errors';
import {
  assertFits,
  fits,
  memlockReport,
  registrationBytes,
  tceTableBytes,
  ulimitKiBFor,
  v1EnableBytes,
  type MemlockStatus,
} from '../../lib/memlock';

const MiB = 1n << 20n;
const GiB = 1n << 30n;

function status(locked: bigint, limit: bigint | null, capIpcLock = false): MemlockStatus {
  return { limit, hardLimit: limit, locked, capIpcLock };
}

describe('memlock arithmetic', function () {
  describe('TCE table cost (kernel get_table_size, table + userspace view)', function () {
    it('charges 8 MiB for the default 2 GiB window of 4K pages, on both kernels', function () {
      assert.equal(tceTableBytes(12, 2n * GiB, 1, 4096n), 8n * MiB);
      assert.equal(tceTableBytes(12, 2n * GiB, 1, 65536n), 8n * MiB);
    });

    it('charges 1 MiB for a 4 GiB window of 64K pages', function () {
      assert.equal(tceTableBytes(16, 4n * GiB, 1, 4096n), 1n * MiB);
      assert.equal(tceTableBytes(16, 4n * GiB, 1, 65536n), 1n * MiB);
    });

    it('rounds small tables up to a system page (4K at least), per level', function () {
      // 256 MiB of 64K pages: 4096 entries = 32 KiB of TCEs.
      assert.equal(tceTableBytes(16, 256n * MiB, 1, 4096n), 64n * 1024n);
      assert.equal(tceTableBytes(16, 256n * MiB, 1, 65536n), 128n * 1024n);
      // 1 MiB of 64K pages: 16 entries, still one 4K page minimum.
      assert.equal(tceTableBytes(16, MiB, 1, 4096n), 8192n);
    });

    it('splits entries over levels of direct tables', function () {
      // 2 GiB of 4K: 2^19 entries; 2 levels of 2^10 entries (8 KiB) each.
      // Level 1: the 4 MiB of TCEs in 8 KiB tables; level 2: 512 pointers (4 KiB) -> 8 KiB.
      assert.equal(tceTableBytes(12, 2n * GiB, 2, 4096n), 2n * (4n * MiB + 8192n));
    });

    it('returns 0 for levels the kernel refuses', function () {
      assert.equal(tceTableBytes(12, 2n * GiB, 0, 4096n), 0n);
      assert.equal(tceTableBytes(12, 2n * GiB, 6, 4096n), 0n);
    });
  });

  it('charges registrations by system page and v1 by the whole window', function () {
    assert.equal(registrationBytes(2n * MiB, 4096n), 2n * MiB);
    assert.equal(registrationBytes(4097n, 4096n), 8192n);
    assert.equal(registrationBytes(4097n, 65536n), 65536n);
    assert.equal(v1EnableBytes(2n * GiB, 65536n), 2n * GiB);
  });

  it('computes the ulimit -l that fits, rounded up to KiB', function () {
    assert.equal(ulimitKiBFor(0n, 8n * MiB), 8192n);
    assert.equal(ulimitKiBFor(3n * MiB, 8n * MiB + 1n), 11265n);
  });

  it('fits under the limit, always with CAP_IPC_LOCK or no limit', function () {
    assert.equal(fits(status(3n * MiB, 8n * MiB), 5n * MiB), true);
    assert.equal(fits(status(3n * MiB, 8n * MiB), 5n * MiB + 1n), false);
    assert.equal(fits(status(3n * MiB, 8n * MiB, true), GiB), true);
    assert.equal(fits(status(3n * MiB, null), GiB), true);
  });

  it('throws MemlockLimitError with the numbers and the remedy', function () {
    const err = assert.throws(
      () => assertFits(status(3n * MiB, 8n * MiB), 8n * MiB, 'creating the default DMA window'),
      (e: unknown) => {
        assert.ok(e instanceof MemlockLimitError);
        assert.equal(e.code, 'ERR_VFIO_MEMLOCK_LIMIT');
        assert.equal(e.needed, 8n * MiB);
        assert.equal(e.locked, 3n * MiB);
        assert.equal(e.limit, 8n * MiB);
        assert.equal(e.ulimitKiB, 11264n);
        assert.match(e.message, /ulimit -l 11264/);
        assert.match(e.message, /CAP_IPC_LOCK/);
        return true;
      },
    );
    assert.equal(err, undefined);
  });

  it('reports a plan with its total and whether it fits', function () {
    const report = memlockReport(status(MiB, 8n * MiB), [
      { what: 'register 4 MiB', bytes: 4n * MiB },
      { what: 'default window', bytes: 8n * MiB },
    ]);
    assert.equal(report.needed, 12n * MiB);
    assert.equal(report.fits, false);
    assert.equal(report.ulimitKiB, 13n * 1024n);
  });
});
