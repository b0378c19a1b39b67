import { strict as assert } from 'node:assert';
import type { NativeError } from '../../lib/binding';
import * as errors from '../../lib/errors';
import * as deviceErrors from '../../lib/errors/device';
import { VfioError, VfioSystemError, callNative, callNativeAsync } from '../../lib/errors';

function nativeError(code: string, errno?: number, ioctl?: string): NativeError {
  const e = new Error(`${ioctl}: ${code}`) as NativeError;
  e.code = code;
  if (errno !== undefined) e.errno = errno;
  e.syscall = 'ioctl';
  if (ioctl) e.ioctl = ioctl;
  return e;
}

describe('errors', function () {
  it('gives every library error class its own stable code', function () {
    const shortfall = { needed: 1n, locked: 0n, limit: 0n, ulimitKiB: 1n };
    // The device errors take one object of facts (every field any of them reads).
    const facts = {
      ...{ device: 'd', region: 'BAR0', index: 0, offset: 0n, length: 1n, size: 1n, width: 8 },
      ...{ access: 'read', flags: 0, kind: 'function', needed: [1], held: [], operation: 'reset' },
      ...{ action: 'mask', indexName: 'MSI', count: 1, requested: 1, requestedName: 'MSI' },
      ...{ active: 0, activeName: 'INTX', enabled: 1, vectors: [0], areas: [], direction: 'read' },
      ...{ transferred: 0, native: nativeError('EBUSY', -16, 'VFIO_DEVICE_RESET') },
    };
    const codes = new Map<string, string>();
    for (const [name, value] of Object.entries(errors)) {
      if (typeof value !== 'function' || !(value.prototype instanceof VfioError)) continue;
      if (value === VfioSystemError) continue;
      const Class = value as unknown as new (a: string, b: unknown, c: number) => VfioError;
      const e = Object.values(deviceErrors).includes(value as never)
        ? new (value as unknown as new (f: typeof facts) => VfioError)(facts)
        : new Class('x', shortfall, 2);
      assert.match(e.code, /^ERR_VFIO_[A-Z0-9_]+$/, name);
      assert.equal(e.name, name);
      assert.ok(e instanceof Error);
      assert.ok(!codes.has(e.code), `${name} reuses ${e.code} of ${codes.get(e.code)}`);
      codes.set(e.code, name);
    }
    assert.ok(codes.size >= 20, `only ${codes.size} classes found`);
  });

  it('turns an errno into a VfioSystemError shaped like Node SystemError', function () {
    const err = assert.throws(
      () =>
        callNative('mapping 4096 bytes', () => {
          throw nativeError('EPERM', -1, 'VFIO_IOMMU_MAP_DMA');
        }),
      (e: unknown) => {
        assert.ok(e instanceof VfioSystemError);
        assert.equal(e.code, 'EPERM');
        assert.equal(e.errno, -1);
        assert.equal(e.syscall, 'ioctl');
        assert.equal(e.ioctl, 'VFIO_IOMMU_MAP_DMA');
        assert.match(e.message, /^mapping 4096 bytes: /);
        return true;
      },
    );
    assert.equal(err, undefined);
  });

  it('adds the remedy for the usual errnos', function () {
    assert.throws(
      () =>
        callNative('registering', () => {
          throw nativeError('ENOMEM', -12, 'VFIO_IOMMU_SPAPR_REGISTER_MEMORY');
        }),
      /ulimit -l/,
    );
    assert.throws(
      () =>
        callNative('opening', () => {
          throw nativeError('EACCES', -13);
        }),
      /read-write permission/,
    );
  });

  it('keeps the positive return of MAP/UNMAP as returnValue', function () {
    const native = nativeError('ERR_VFIO_UNEXPECTED_RETURN', undefined, 'VFIO_IOMMU_MAP_DMA');
    native.returnValue = 1;
    assert.throws(
      () =>
        callNative('mapping', () => {
          throw native;
        }),
      (e: unknown) => e instanceof VfioSystemError && e.returnValue === 1 && e.errno === undefined,
    );
  });

  it('lets a classifier pick a specific class', function () {
    assert.throws(
      () =>
        callNative(
          'x',
          () => {
            throw nativeError('ENOSPC', -28);
          },
          (n) => (n.code === 'ENOSPC' ? new errors.WindowLimitError('full') : undefined),
        ),
      errors.WindowLimitError,
    );
  });

  it('passes argument errors of the native layer through untouched', function () {
    const typeError = Object.assign(new TypeError('fd must be a number'), {
      code: 'ERR_INVALID_ARG_TYPE',
    });
    assert.throws(
      () =>
        callNative('x', () => {
          throw typeError;
        }),
      (e: unknown) => e === typeError,
    );
  });

  it('translates rejections of async native calls too', async function () {
    await assert.rejects(
      callNativeAsync('registering', () => Promise.reject(nativeError('EBADF', -9, 'X'))),
      (e: unknown) => e instanceof VfioSystemError && e.code === 'EBADF',
    );
  });
});
