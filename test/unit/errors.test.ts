import { strict as assert } from 'node:assert';
import type { NativeError } from '../../lib/binding';
import * as errors from '../../lib/errors';
import { VfioError, VfioSystemError, callNative, callNativeAsync } from '../../lib/errors';

function nativeError(code: string, errno?: number, ioctl?: string): NativeError {
  const e = new Error(`${ioctl}: ${code}`) as NativeError;
  e.code = code;
  if (errno !== undefined) e.errno = errno;
  e.syscall = 'ioctl';
  if (ioctl) e.ioctl = ioctl;
  return e;
}

/** Sample facts for every error class: a class added without an entry fails the test below. */
const ERROR_FACTS: Record<string, object | undefined> = {
  VfioUnavailableError: { problem: 'no VFIO container device (/dev/vfio/vfio: ENOENT)' },
  ClosedError: { what: 'VFIO container' },
  ForkedProcessError: { what: 'VFIO container', ownerPid: 10, pid: 11 },
  GroupLimitError: { group: 1, existing: 0 },
  GroupNotViableError: {
    group: 3,
    device: '0000:01:00.0',
    blockers: [{ bdf: '0000:01:00.1', driver: 'nvme' }],
  },
  InvalidBdfError: { value: 'x' },
  DriverBindError: { device: '0000:01:00.0', problem: 'the vfio-pci driver is not loaded' },
  UnsupportedDeviceError: {
    bdf: '0000:01:00.0',
    vendor: '8086',
    device: '10d3',
    pciClass: '0x020000',
  },
  RegionOverlapError: {
    address: 0x1000n,
    size: 0x1000n,
    conflict: { start: 0n, size: 0x2000n },
    scope: 'container',
  },
  RegionNotFoundError: {
    address: 0x1000n,
    size: 0x1000n,
    registered: { start: 0x1000n, size: 0x2000n },
  },
  RegionInUseError: { address: 0x1000n, size: 0x1000n, users: 2 },
  BufferInUseError: { address: 0x1000n, holders: 1 },
  NotRegisteredError: { address: 0x1000n, size: 0x2000n, missing: 0x2000n },
  MappingOverlapError: { iova: 0n, size: 0x1000n, conflict: { start: 0n, size: 0x1000n } },
  MappingNotFoundError: { iova: 0n, size: 0x1000n, live: { start: 0n, size: 0x2000n } },
  AlignmentError: { subject: 'mapping', start: 0x800n, size: 0x1000n, alignment: 0x1000n },
  OutsideWindowError: {
    iova: 1n << 40n,
    size: 0x1000n,
    window: null,
    windows: [{ start: 0n, size: 1n << 31n, pageSize: 4096n }],
  },
  IommuTypeError: {
    reason: 'wrong-type',
    operation: 'memory registration',
    required: 'v2',
    current: 'v1',
  },
  NotEnabledError: undefined,
  OperationPendingError: { operation: 'close()', pending: 2 },
  PageSizeError: { reason: 'not-offered', pageSize: 8192n, offered: [4096n, 65536n] },
  HugetlbRegistrationError: { backingPageSize: 1n << 24n, systemPageSize: 4096n },
  NoDynamicWindowsError: undefined,
  WindowLimitError: { maxWindows: 2, existing: 2 },
  TceTableAllocationError: {
    windowSize: 1n << 40n,
    pageSize: 4096n,
    levels: 1,
    strandedBytes: 1n << 26n,
  },
  WindowInUseError: { start: 0n, size: 1n << 31n, mappingCount: 3 },
  WindowNotFoundError: { start: 1n << 59n, size: 1n << 32n },
  GuestTceRefusedError: {
    hcall: 'H_PUT_TCE',
    reason: 'gpa-outside-slots',
    liobn: 0x80000000,
    ioba: 0x1000n,
    index: 3,
  },
  GuestWindowRefusedError: {
    call: 'ibm,create-pe-dma-window',
    rtasStatus: -3,
    problem: 'pages of 2^16 are not offered',
  },
  SlotInUseError: { gpa: 0n, size: 1n << 26n, users: 4 },
  SlotOverlapError: { gpa: 0n, size: 1n << 26n, conflict: { start: 1n << 25n, size: 1n << 26n } },
  GuestOwnedError: { what: 'window [0x0, 0x80000000)', remedy: 'put TCEs through its table' },
  MemlockLimitError: { operation: 'registering', needed: 1n, locked: 0n, limit: 0n, ulimitKiB: 1n },
  ResetNotSupportedError: { device: '0000:01:00.0', kind: 'function', flags: 2 },
  DeviceBusyError: {
    device: '0000:01:00.0',
    operation: 'reset',
    native: nativeError('EAGAIN', -11, 'VFIO_DEVICE_RESET'),
  },
  HotResetGroupsError: { device: '0002:01:00.0', needed: [1, 2], held: [1] },
  InterruptNotSupportedError: {
    device: '0000:01:00.0',
    index: 1,
    indexName: 'MSI',
    action: 'mask',
    count: 1,
    flags: 9,
  },
  InterruptsBusyError: {
    device: '0000:01:00.0',
    requested: 1,
    requestedName: 'MSI',
    active: 0,
    activeName: 'INTX',
  },
  InterruptResizeError: {
    device: '0002:01:00.0',
    index: 2,
    indexName: 'MSIX',
    enabled: 3,
    requested: 4,
  },
  InterruptNotEnabledError: {
    device: '0000:01:00.0',
    index: 0,
    indexName: 'INTX',
    action: 'unmask',
    vectors: [0],
  },
  RegionBoundsError: {
    device: '0002:01:00.0',
    region: 'BAR0',
    offset: 0x4000n,
    length: 4n,
    size: 0x4000n,
  },
  RegisterWidthError: { device: '0002:01:00.0', region: 'BAR0', offset: 2n, width: 32 },
  RegionAccessError: { device: '0002:01:00.0', region: 'ROM', index: 6, access: 'write', flags: 1 },
  UnmappedAreaError: {
    device: '0002:01:00.0',
    region: 'BAR0',
    offset: 0x2000n,
    width: 32,
    areas: [{ offset: 0n, size: 0x2000n }],
  },
  ShortTransferError: {
    device: '0002:01:00.0',
    region: 'BAR0',
    direction: 'read',
    offset: 0x3ffcn,
    requested: 8,
    transferred: 4,
  },
};

describe('errors', function () {
  it('gives every library error class its own stable code, and its facts as fields', function () {
    const codes = new Map<string, string>();
    for (const [name, value] of Object.entries(errors)) {
      if (typeof value !== 'function' || !(value.prototype instanceof VfioError)) continue;
      if (value === VfioSystemError) continue;
      assert.ok(name in ERROR_FACTS, `${name} has no sample facts in ERROR_FACTS`);
      const facts = ERROR_FACTS[name];
      const Class = value as unknown as new (facts?: object) => VfioError;
      const e = new Class(facts);
      assert.match(e.code, /^ERR_VFIO_[A-Z0-9_]+$/, name);
      assert.equal(e.name, name);
      assert.ok(e instanceof Error);
      assert.ok(e.message.length > 20, `${name}: a message that says something`);
      assert.ok(!codes.has(e.code), `${name} reuses ${e.code} of ${codes.get(e.code)}`);
      codes.set(e.code, name);
      // Each fact the class keeps as a field holds the value it was given.
      const fields = Object.keys(e).filter(
        (k) => !['code', 'name', 'message', 'stack'].includes(k),
      );
      for (const field of fields) {
        if (facts && field in facts) {
          assert.deepEqual(
            (e as unknown as Record<string, unknown>)[field],
            (facts as Record<string, unknown>)[field],
            `${name}.${field}`,
          );
        }
      }
    }
    assert.ok(codes.size >= 20, `only ${codes.size} classes found`);
  });

  it('puts the ranges a DMA refusal is about in fields and in the message', function () {
    const e = new errors.MappingOverlapError({
      iova: 0x10000n,
      size: 0x2000n,
      conflict: { start: 0x11000n, size: 0x1000n },
    });
    assert.equal(e.iova, 0x10000n);
    assert.deepEqual(e.conflict, { start: 0x11000n, size: 0x1000n });
    assert.match(e.message, /\[0x10000, 0x12000\) overlaps the live mapping \[0x11000, 0x12000\)/);
    const stale = new errors.MappingNotFoundError({
      iova: 0x1000n,
      size: 0x1000n,
      staleHandle: true,
    });
    assert.equal(stale.staleHandle, true);
    assert.equal(stale.code, 'ERR_VFIO_MAPPING_NOT_FOUND');
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
          (n) =>
            n.code === 'ENOSPC'
              ? new errors.WindowLimitError({ maxWindows: 2, existing: 2 })
              : undefined,
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
