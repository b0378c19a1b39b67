// Every public entry point given wrong types, negatives, NaN, values of 2^64 and beyond,
// and misaligned values: each is refused with a typed error, never passed to the kernel.
import { strict as assert } from 'node:assert';
import {
  AlignmentError,
  ArgumentRangeError,
  Container,
  DmaBuffer,
  Group,
  InvalidArgumentError,
  InvalidBdfError,
  RegionBoundsError,
  RegisterWidthError,
  parseBdf,
  type Region,
} from '../../lib';
import { FakeKernel } from '../support/fake-binding';
import { spyBinding } from '../support/spy-binding';

const TWO_64 = 1n << 64n;
/** Values that are never a valid address, IOVA, size or offset. */
const BAD_NUMBERS: unknown[] = [
  -1,
  -1n,
  NaN,
  Infinity,
  1.5,
  2 ** 53,
  TWO_64,
  TWO_64 + 1n,
  '4096',
  null,
  {},
  [],
  Symbol('x'),
];
const BAD_ADDRESSES: unknown[] = [...BAD_NUMBERS, 4096, undefined];

function isTypedArgumentError(e: unknown): boolean {
  return (
    (e instanceof InvalidArgumentError && e.code === 'ERR_INVALID_ARG_TYPE') ||
    (e instanceof ArgumentRangeError && e.code === 'ERR_OUT_OF_RANGE') ||
    (e instanceof AlignmentError && e.code === 'ERR_VFIO_MISALIGNED') ||
    // register accesses: past the region's end, or a width or alignment a register cannot have
    e instanceof RegionBoundsError ||
    e instanceof RegisterWidthError
  );
}

describe('argument validation of the public API', function () {
  let kernel: FakeKernel;
  let calls: string[];
  let container: Container;
  let buffer: DmaBuffer;
  let region: Region;

  beforeEach(function () {
    kernel = new FakeKernel({ pageSize: 4096 });
    const spied = spyBinding(kernel.binding());
    calls = spied.calls;
    container = Container.open({ binding: spied.binding });
    container.addGroup(0);
    container.setIommu('v2');
    buffer = DmaBuffer.allocate(8192, { binding: kernel.binding() });
    region = container.register(buffer);
    calls.length = 0;
  });

  afterEach(function () {
    container.close();
    buffer.free();
  });

  function refuses(what: string, call: () => unknown): void {
    const before = calls.length;
    assert.throws(call, isTypedArgumentError, what);
    assert.equal(calls.length, before, `${what} reached the kernel`);
  }

  const api: [string, (v: never) => unknown][] = [
    ['map iova', (v) => container.map(region, v)],
    ['map offset', (v) => container.map(region, 0n, { offset: v })],
    ['map size', (v) => container.map(region, 0n, { size: v })],
    ['mappingAt iova', (v) => container.mappingAt(v, 4096)],
    ['mappingAt size', (v) => container.mappingAt(0n, v)],
    ['regionAt address', (v) => container.regionAt(v, 4096)],
    ['translate', (v) => container.translate(v)],
    ['register offset', (v) => container.register(buffer, { offset: v })],
    ['register size', (v) => container.register(buffer, { size: v })],
    ['registerCallerOwnedMemory address', (v) => container.registerCallerOwnedMemory(v, 4096)],
    ['registerCallerOwnedMemory size', (v) => container.registerCallerOwnedMemory(0x10000n, v)],
    ['createWindow pageSize', (v) => container.createWindow({ pageSize: v, size: 1n << 32n })],
    ['createWindow size', (v) => container.createWindow({ pageSize: 65536, size: v })],
    ['windowCost size', (v) => container.windowCost(65536, v)],
    ['DmaBuffer.allocate size', (v) => DmaBuffer.allocate(v, { binding: kernel.binding() })],
  ];

  for (const [what, call] of api) {
    it(`${what}: refuses wrong types, negatives, NaN, 2^64 and beyond`, function () {
      const values =
        what.includes('iova') || what.includes('address') || what === 'translate'
          ? BAD_ADDRESSES
          : BAD_NUMBERS;
      for (const value of values) refuses(`${what}(${String(value)})`, () => call(value as never));
    });
  }

  it('refuses misaligned and out-of-block ranges', function () {
    refuses('map offset 100', () => container.map(region, 0n, { offset: 100, size: 4096 }));
    refuses('map offset past end', () => container.map(region, 0n, { offset: 8192 }));
    refuses('map size past end', () => container.map(region, 0n, { offset: 4096, size: 8192 }));
    refuses('map 0 bytes', () => container.map(region, 0n, { size: 0 }));
    refuses('map no access', () => container.map(region, 0n, { read: false, write: false }));
    refuses('map read not boolean', () => container.map(region, 0n, { read: 1 as never }));
    refuses('register misaligned', () => container.registerCallerOwnedMemory(0x10001n, 4096));
    refuses('register 0 bytes', () => container.registerCallerOwnedMemory(0x10000n, 0));
    refuses('backing not a power of two', () =>
      container.registerCallerOwnedMemory(0x10000n, 4096, { backingPageSize: 12288 }),
    );
    refuses('window not a power of two', () =>
      container.createWindow({ pageSize: 65536, size: (1n << 32n) + 65536n }),
    );
    refuses('window levels 0', () =>
      container.createWindow({ pageSize: 65536, size: 1n << 32n, levels: 0 }),
    );
    refuses('window levels 6', () =>
      container.createWindow({ pageSize: 65536, size: 1n << 32n, levels: 6 }),
    );
  });

  it('refuses bad option bags and sources', function () {
    refuses('options a number', () => container.map(region, 0n, 5 as never));
    refuses('options an array', () => container.register(buffer, [] as never));
    refuses('map source', () => container.map({} as never, 0n));
    refuses('register source', () => container.register({ address: 0n } as never));
    refuses('setIommu type', () => container.setIommu('v3' as never));
    refuses('allocate backing', () =>
      DmaBuffer.allocate(4096, { backing: 'heap' as never, binding: kernel.binding() }),
    );
    refuses('allocate hugePageSize without hugetlb', () =>
      DmaBuffer.allocate(4096, { hugePageSize: 65536, binding: kernel.binding() }),
    );
  });

  it('refuses bad group numbers', function () {
    for (const value of [-1, 1.5, NaN, '0', 2 ** 31, 0n]) {
      assert.throws(
        () => Group.open(value as never, { binding: kernel.binding() }),
        isTypedArgumentError,
      );
    }
  });

  it('validates MMIO offsets, widths and values', function () {
    const group = Group.open(0, { binding: kernel.binding() });
    const device = group.openDevice('0000:01:00.0');
    const bar = device.mapRegion(0, { endianness: 'big' });
    bar.write32(0x80, 0x12345678);
    assert.equal(bar.read32(0x80), 0x12345678);
    assert.equal(bar.read8(0x80), 0x12);
    for (const offset of [-4, 1, 2, 0x100000, NaN, 2 ** 53]) {
      assert.throws(() => bar.read32(offset), isTypedArgumentError, `offset ${offset}`);
    }
    assert.throws(() => bar.write8(0, 256), isTypedArgumentError);
    assert.throws(() => bar.write32(0, -1), isTypedArgumentError);
    assert.throws(() => bar.write64(0, 1n << 64n), isTypedArgumentError);
    assert.throws(() => bar.write64(0, '1' as never), isTypedArgumentError);
    assert.throws(
      () => device.mapRegion(0, { endianness: 'middle' as never }),
      isTypedArgumentError,
    );
    assert.throws(() => device.readConfig(3, 32), isTypedArgumentError);
    assert.throws(() => device.readConfig(4096, 8), isTypedArgumentError);
    assert.throws(() => device.writeConfig(4, 0x10000, 16), isTypedArgumentError);
    assert.throws(() => device.readConfig(4, 24 as never), isTypedArgumentError);
    bar.unmap();
    assert.throws(() => bar.read32(0), /closed/);
    group.close();
    assert.throws(() => device.info(), /closed/);
  });

  it('validates PCI addresses', function () {
    assert.equal(parseBdf('0001:01:00.0'), '0001:01:00.0');
    assert.equal(parseBdf('01:1F.7'), '0000:01:1f.7');
    for (const bad of [
      '',
      '0000:01:00',
      '0000:01:00.8',
      '0000:01:20.0',
      '../../x',
      '0000:01:00.0\n',
      5,
    ]) {
      assert.throws(() => parseBdf(bad), InvalidBdfError, String(bad));
    }
  });
});
