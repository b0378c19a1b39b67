// Regression tests for what the fuzzers found (test/fuzz/): each case is one bug, fixed in
// lib/, pinned here with the smallest input that showed it.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ArgumentRangeError,
  BufferInUseError,
  Container,
  DmaBuffer,
  DriverBindError,
  IommuTypeError,
  InvalidArgumentError,
  InvalidBdfError,
  OperationPendingError,
  Sysfs,
  memlockReport,
  parseBdf,
} from '../../lib';
import { FakeKernel } from '../support/fake-binding';
import { spyBinding } from '../support/spy-binding';
import { detachedView } from '../fuzz/hostile';
import { fakeBooksProblem } from '../fuzz/fake-env';

const MiB = 1n << 20n;

function typedArgumentError(e: unknown): boolean {
  return (
    (e instanceof InvalidArgumentError && e.code === 'ERR_INVALID_ARG_TYPE') ||
    (e instanceof ArgumentRangeError && e.code === 'ERR_OUT_OF_RANGE')
  );
}

describe('hardening: what the fuzzers found', function () {
  let kernel: FakeKernel;
  beforeEach(function () {
    kernel = new FakeKernel({ pageSize: 65536 });
  });

  function openV2(...groups: number[]): Container {
    const c = Container.open({ binding: kernel.binding() });
    for (const g of groups.length ? groups : [0]) c.addGroup(g);
    c.setIommu('v2');
    return c;
  }

  it('Eeh.reset and Eeh.injectError refuse bad arguments with typed errors', function () {
    const c = openV2();
    for (const kind of ['bogus', '__proto__', 'toString', undefined, 5]) {
      assert.throws(() => c.eeh.reset(kind as 'hot'), typedArgumentError, String(kind));
    }
    for (const error of [null, 5, 'x', {}, { type: NaN, func: 0 }, { type: 0, func: -1 }]) {
      assert.throws(() => c.eeh.injectError(error as never), typedArgumentError);
    }
    assert.throws(
      () => c.eeh.injectError({ type: 0, func: 0, addr: 1n << 64n }),
      typedArgumentError,
    );
    c.eeh.injectError({ type: 1, func: 17, addr: 0x1000n, mask: 0xfffn });
    c.close();
  });

  it('memlock(plan) refuses a plan that is not { what, bytes }[], and a huge sparse one at once', function () {
    const c = openV2();
    for (const plan of [5, 'x', {}, [null], [{ what: 'x', bytes: -1 }], [{ what: 1, bytes: 1n }]]) {
      assert.throws(() => c.memlock(plan as never), typedArgumentError, String(plan));
    }
    // Counts element lookups (map() asks has() for each hole): refusing must not walk 2^32.
    let lookups = 0;
    const isIndex = (key: string | symbol) => typeof key === 'string' && /^\d+$/.test(key);
    const huge = new Proxy(new Array(2 ** 32 - 1), {
      get(target, key, receiver) {
        if (isIndex(key)) lookups += 1;
        return Reflect.get(target, key, receiver) as unknown;
      },
      has(target, key) {
        if (isIndex(key)) lookups += 1;
        if (lookups > 1000) throw new Error('walking the holes');
        return Reflect.has(target, key);
      },
    });
    assert.throws(() => c.memlock(huge), ArgumentRangeError);
    assert.equal(lookups, 0, 'refused without looking at an element');
    assert.equal(c.memlock([{ what: 'x', bytes: 4096n }]).needed, 4096n);
    assert.equal(
      memlockReport({ limit: null, hardLimit: null, locked: 0n, capIpcLock: false }).needed,
      0n,
    );
    c.close();
  });

  it('values that cannot be turned into text still get typed errors (parseBdf, MMIO, config)', function () {
    for (const bad of [Object.create(null), detachedView(), Symbol('s')]) {
      assert.throws(() => parseBdf(bad), InvalidBdfError);
    }
    const c = openV2();
    const device = c.groups()[0].openDevice('0000:01:00.0');
    const bar = device.mapRegion(0);
    assert.throws(() => bar.read32(Object.create(null)), ArgumentRangeError);
    assert.throws(() => device.writeConfig(0x3c, Symbol('v') as never, 8), ArgumentRangeError);
    c.close();
  });

  it("unbindFromVfioPci refuses '..' and non-strings as the driver to restore (no write outside drivers/)", function () {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vfio-hardening-sysfs-'));
    try {
      const dev = path.join(root, 'bus/pci/devices/0000:01:00.0');
      fs.mkdirSync(dev, { recursive: true });
      fs.mkdirSync(path.join(root, 'bus/pci/drivers/vfio-pci'), { recursive: true });
      for (const f of ['vendor', 'device', 'class', 'driver_override']) {
        fs.writeFileSync(path.join(dev, f), '0x0\n');
      }
      const sysfs = new Sysfs({ root });
      for (const restore of ['..', '.', Object.create(null), 5, 'a/b']) {
        assert.throws(() => sysfs.unbindFromVfioPci('0000:01:00.0', restore), DriverBindError);
      }
      assert.equal(fs.existsSync(path.join(root, 'bus/pci/bind')), false);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("an absurd registration size is refused before the kernel; the machine's whole memory is at most 4096 kernel calls", async function () {
    const spied = spyBinding(kernel.binding());
    const c = Container.open({ binding: spied.binding });
    c.addGroup(0);
    c.setIommu('v2');
    let before = spied.calls.length;
    // 2^62 bytes: as root the real kernel WARNs in vmalloc before its ENOMEM (docs/kernel.md).
    await assert.rejects(
      c.registerCallerOwnedMemoryAsync(1n << 40n, 1n << 62n),
      ArgumentRangeError,
    );
    assert.equal(spied.calls.length, before, 'refused before the kernel');
    // The largest size allowed: the fake accepts every block the library asks for.
    const whole = BigInt(os.totalmem()) & ~0xffffn;
    const region = await c.registerCallerOwnedMemoryAsync(1n << 40n, whole);
    const blocks = spied.calls.filter((k) => k === 'registerMemoryAsync').length;
    assert.ok(blocks > 1 && blocks <= 4096, `${blocks} kernel calls`);
    region.unregister();
    assert.equal(kernel.locked, 0n);
    before = spied.calls.length;
    assert.throws(
      () => c.registerCallerOwnedMemory((1n << 64n) - 65536n, 131072),
      ArgumentRangeError,
    );
    assert.equal(spied.calls.length, before, 'refused before the kernel');
    c.close();
  });

  it("closing a container's last group under live mappings empties its books, as the kernel empties the IOMMU", function () {
    const c = openV2();
    const buffer = DmaBuffer.allocate(4n * MiB, { binding: kernel.binding() });
    const region = c.register(buffer);
    c.map(region, 0x100000n);
    c.createWindow({ pageSize: 65536, size: 1n << 32n });
    assert.throws(() => buffer.free(), BufferInUseError);
    assert.ok(kernel.locked > 0n);
    c.groups()[0].close();
    // The fake kernel, as the real one (test/vm/faults.test.ts), released everything.
    assert.equal(kernel.locked, 0n);
    assert.deepEqual(c.groups(), []);
    assert.throws(
      () => c.mappings(),
      (e: unknown) => e instanceof IommuTypeError && /lost its last group, 0/.test(e.message),
    );
    assert.throws(() => region.unregister(), IommuTypeError);
    buffer.free();
    // And the container starts over.
    c.addGroup(1);
    c.setIommu('v2');
    assert.equal(fakeBooksProblem(kernel, c, 'pending'), null);
    c.close();
  });

  it('closing one of two groups keeps the books and re-installs the live mappings; closing the last under an async registration is refused', async function () {
    const spied = spyBinding(kernel.binding());
    const c = Container.open({ binding: spied.binding });
    c.addGroup(0);
    c.addGroup(1);
    c.setIommu('v2');
    const buffer = DmaBuffer.allocate(MiB, { binding: kernel.binding() });
    const region = c.register(buffer);
    c.map(region, 0x100000n);
    const [g0, g1] = c.groups();
    const maps = spied.calls.filter((k) => k === 'mapDma').length;
    g0.close();
    // The kernel stops translating the live mappings for the remaining group: map them again.
    assert.equal(spied.calls.filter((k) => k === 'mapDma').length, maps + 1);
    assert.equal(c.mappings().length, 1);
    assert.equal(fakeBooksProblem(kernel, c, 'created'), null);
    const other = DmaBuffer.allocate(MiB, { binding: kernel.binding() });
    const pending = c.registerAsync(other);
    assert.throws(() => g1.close(), OperationPendingError);
    assert.equal(g1.closed, false);
    await pending;
    g1.close();
    assert.equal(kernel.locked, 0n);
    c.close();
    buffer.free();
    other.free();
  });
});
