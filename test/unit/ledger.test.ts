import { strict as assert } from 'node:assert';
import {
  AlignmentError,
  MappingNotFoundError,
  MappingOverlapError,
  NotRegisteredError,
  OutsideWindowError,
  PageSizeError,
  RegionInUseError,
  RegionNotFoundError,
  RegionOverlapError,
  WindowInUseError,
} from '../../lib/errors';
import { Ledger, toGranules, type MapRequest } from '../../lib/ledger';

const K4 = 4096n;
const K64 = 65536n;

function request(address: bigint, iova: bigint, size: bigint): MapRequest {
  return { address, iova, size, readable: true, writable: true, owner: null };
}

describe('ledger', function () {
  let ledger: Ledger;
  beforeEach(function () {
    ledger = new Ledger(K4, true);
    ledger.commitWindow(0n, 0x80000000n, K4, 1, true);
  });

  function register(address: bigint, size: bigint, backing = K4) {
    return ledger.commitRegister(ledger.checkRegister(address, size), backing, null);
  }
  function map(address: bigint, iova: bigint, size: bigint) {
    return ledger.commitMap(ledger.checkMap(request(address, iova, size)));
  }

  describe('registrations', function () {
    it('refuses duplicates, overlaps from either side and containment', function () {
      register(0x10000n, 0x4000n);
      for (const [a, s] of [
        [0x10000n, 0x4000n],
        [0xf000n, 0x2000n],
        [0x13000n, 0x2000n],
        [0x11000n, 0x1000n],
        [0x0n, 0x100000n],
      ]) {
        assert.throws(() => ledger.checkRegister(a, s), RegionOverlapError, `${a}+${s}`);
      }
      assert.throws(() => ledger.checkRegister(0x10000n, 0x4000n), /already registered/);
    });

    it('accepts adjacent ranges on both sides', function () {
      register(0x10000n, 0x4000n);
      register(0x14000n, 0x1000n);
      register(0xf000n, 0x1000n);
      assert.equal(ledger.regionCount(), 3);
    });

    it('refuses zero size and ranges not aligned to the system page', function () {
      assert.throws(() => ledger.checkRegister(0x10000n, 0n), AlignmentError);
      assert.throws(() => ledger.checkRegister(0x10800n, 0x1000n), AlignmentError);
      assert.throws(() => ledger.checkRegister(0x10000n, 0x1800n), AlignmentError);
    });

    it('unregisters only the exact range, and not while mapped', function () {
      const region = register(0x10000n, 0x4000n);
      assert.throws(() => ledger.checkUnregister(0x10000n, 0x1000n), RegionNotFoundError);
      assert.throws(() => ledger.checkUnregister(0x11000n, 0x3000n), RegionNotFoundError);
      const mapping = map(0x10000n, 0x100000n, 0x1000n);
      assert.throws(() => ledger.checkUnregister(0x10000n, 0x4000n), RegionInUseError);
      ledger.commitUnmap(mapping);
      assert.equal(ledger.checkUnregister(0x10000n, 0x4000n), region);
      ledger.commitUnregister(region);
      assert.equal(ledger.regionCount(), 0);
      assert.throws(() => ledger.checkUnregister(0x10000n, 0x4000n), RegionNotFoundError);
    });
  });

  describe('mappings', function () {
    it('refuses unregistered memory, also partly unregistered', function () {
      register(0x10000n, 0x2000n);
      assert.throws(() => ledger.checkMap(request(0x20000n, 0n, 0x1000n)), NotRegisteredError);
      assert.throws(() => ledger.checkMap(request(0x11000n, 0n, 0x2000n)), NotRegisteredError);
    });

    it('maps across adjacent regions and counts the use of each', function () {
      const a = register(0x10000n, 0x1000n);
      const b = register(0x11000n, 0x1000n);
      const m = map(0x10000n, 0x0n, 0x2000n);
      assert.deepEqual(m.regions, [a, b]);
      assert.equal(a.mappingCount, 1);
      assert.equal(b.mappingCount, 1);
      ledger.commitUnmap(m);
      assert.equal(a.mappingCount + b.mappingCount, 0);
    });

    it('refuses overlapping IOVA ranges, accepts touching ones', function () {
      register(0x10000n, 0x40000n);
      map(0x10000n, 0x100000n, 0x2000n);
      assert.throws(
        () => ledger.checkMap(request(0x10000n, 0x101000n, 0x1000n)),
        MappingOverlapError,
      );
      assert.throws(
        () => ledger.checkMap(request(0x10000n, 0xff000n, 0x2000n)),
        MappingOverlapError,
      );
      assert.throws(
        () => ledger.checkMap(request(0x10000n, 0xf0000n, 0x20000n)),
        MappingOverlapError,
      );
      map(0x12000n, 0x102000n, 0x1000n);
      map(0x13000n, 0xff000n, 0x1000n);
      assert.equal(ledger.mappingCount(), 3);
    });

    it('refuses IOVA, size or address not aligned to the IOMMU page', function () {
      register(0x10000n, 0x10000n);
      assert.throws(() => ledger.checkMap(request(0x10000n, 0x100800n, 0x1000n)), AlignmentError);
      assert.throws(() => ledger.checkMap(request(0x10000n, 0x100000n, 0x800n)), AlignmentError);
      assert.throws(() => ledger.checkMap(request(0x10800n, 0x100000n, 0x1000n)), AlignmentError);
      assert.throws(() => ledger.checkMap(request(0x10000n, 0x100000n, 0n)), AlignmentError);
    });

    it('refuses ranges outside or running past the window', function () {
      register(0x10000n, 0x10000n);
      assert.throws(
        () => ledger.checkMap(request(0x10000n, 0x80000000n, 0x1000n)),
        OutsideWindowError,
      );
      assert.throws(
        () => ledger.checkMap(request(0x10000n, 0x80000000n - 0x1000n, 0x2000n)),
        /runs past the end/,
      );
    });

    it('refuses an IOMMU page larger than the backing page', function () {
      ledger.commitWindow(1n << 59n, 1n << 32n, K64, 1, false);
      register(0x100000n, 0x20000n, K4);
      assert.throws(() => ledger.checkMap(request(0x100000n, 1n << 59n, K64)), PageSizeError);
      register(0x200000n, 0x20000n, K64);
      map(0x200000n, 1n << 59n, K64);
    });

    it('finds mappings exactly and refuses others', function () {
      register(0x10000n, 0x10000n);
      const m = map(0x10000n, 0x100000n, 0x2000n);
      assert.equal(ledger.mappingExactly(0x100000n, 0x2000n), m);
      assert.throws(() => ledger.mappingExactly(0x100000n, 0x1000n), MappingNotFoundError);
      assert.throws(() => ledger.mappingExactly(0x101000n, 0x1000n), MappingNotFoundError);
      ledger.commitUnmap(m);
      assert.throws(() => ledger.commitUnmap(m), MappingNotFoundError);
    });

    it('translates any IOVA to window, mapping, offset, address and region', function () {
      const region = register(0x10000n, 0x10000n);
      const m = map(0x14000n, 0x200000n, 0x3000n);
      const t = ledger.translate(0x201234n);
      assert.ok(t);
      assert.equal(t.mapping, m);
      assert.equal(t.offset, 0x1234n);
      assert.equal(t.address, 0x15234n);
      assert.equal(t.region, region);
      assert.equal(ledger.translate(0x203000n), undefined);
      assert.equal(ledger.translate(0x1ff000n), undefined);
      assert.equal(ledger.translate(1n << 60n), undefined);
    });
  });

  describe('windows', function () {
    it('refuses removal while mapped', function () {
      register(0x10000n, 0x1000n);
      const m = map(0x10000n, 0n, 0x1000n);
      const window = ledger.windows()[0];
      assert.throws(() => ledger.checkRemoveWindow(window), WindowInUseError);
      ledger.commitUnmap(m);
      ledger.checkRemoveWindow(window);
      ledger.commitRemoveWindow(window);
      assert.equal(ledger.windows().length, 0);
      assert.throws(() => ledger.checkMap(request(0x10000n, 0n, 0x1000n)), /in no DMA window/);
    });
  });

  it('counts in granules exactly on both sides of 2^53 (where Number() stops being exact)', function () {
    const top = (1n << 64n) - 1n;
    for (const value of [0n, K4, 0x7fff12345000n, 1n << 52n, 1n << 59n, (1n << 64n) - K4]) {
      assert.equal(toGranules(value), Number(value / K4), `${value}`);
      // One byte more is never a whole granule, and stays between the same two integers.
      const plus = toGranules(value + 1n);
      assert.equal(Math.floor(plus), Number(value / K4), `${value} + 1`);
      assert.notEqual(plus, Math.floor(plus), `${value} + 1`);
    }
    // Values that round to a multiple of 4 KiB as doubles are still seen as unaligned.
    const rounded = (1n << 53n) + 1n; // Number() gives 2^53
    assert.notEqual(toGranules(rounded), Math.floor(toGranules(rounded)));
    assert.equal(Math.floor(toGranules(top)), 2 ** 52 - 1);
    // A misaligned IOVA in a window above 2^53 is refused as misaligned, not mapped.
    const ledger = new Ledger(K4, true);
    ledger.commitWindow(1n << 59n, 1n << 32n, K4, 1, false);
    ledger.commitRegister(ledger.checkRegister(0x10000n, 0x10000n), K4, null);
    assert.throws(() => ledger.checkMap(request(0x10000n, (1n << 59n) + 1n, K4)), AlignmentError);
    assert.throws(() => ledger.checkMap(request(0x10000n, 1n << 59n, K4 + 1n)), AlignmentError);
    const plan = ledger.checkMap(request(0x10000n, (1n << 59n) + K4, K4));
    assert.equal(plan.first, 2 ** 47 + 1);
  });

  it('refuses a window whose IOMMU page is not a power of two (the alignment masks need one)', function () {
    const ledger = new Ledger(K4, true);
    assert.throws(() => ledger.commitWindow(0n, 1n << 32n, 3n * K4, 1, false), /power of two/);
    assert.equal(ledger.windows().length, 0);
    const w = ledger.commitWindow(0n, 1n << 32n, 2n * K4, 1, false);
    assert.equal(w.pageGranules, 2);
  });

  describe('v1 (no registration)', function () {
    it('maps without registration but keeps every other rule', function () {
      const v1 = new Ledger(K4, false);
      v1.commitWindow(0n, 0x80000000n, K4, 1, true);
      const m = v1.commitMap(v1.checkMap(request(0x10000n, 0n, 0x1000n)));
      assert.deepEqual(m.regions, []);
      assert.throws(() => v1.checkMap(request(0x20000n, 0n, 0x1000n)), MappingOverlapError);
    });
  });

  describe('scale', function () {
    it('keeps 20,000 regions and mappings consistent', function () {
      const big = new Ledger(K4, true);
      big.commitWindow(0n, 1n << 40n, K4, 1, false);
      for (let i = 0n; i < 20000n; i += 1n) {
        const address = 0x100000000n + i * 0x2000n;
        big.commitRegister(big.checkRegister(address, 0x1000n), K4, null);
        big.commitMap(big.checkMap(request(address, i * 0x1000n, 0x1000n)));
      }
      assert.equal(big.regionCount(), 20000);
      assert.equal(big.mappingCount(), 20000);
      assert.equal(
        big.translate(12345n * 0x1000n + 7n)?.address,
        0x100000000n + 12345n * 0x2000n + 7n,
      );
      assert.throws(
        () => big.checkRegister(0x100000000n + 777n * 0x2000n, 0x1000n),
        RegionOverlapError,
      );
      assert.throws(
        () => big.checkMap(request(0x100000000n, 999n * 0x1000n, 0x1000n)),
        MappingOverlapError,
      );
    });
  });
});
