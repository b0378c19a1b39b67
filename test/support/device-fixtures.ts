// Devices on the fake kernel for the device unit tests, and the assertions they share: a
// refusal is a given class, and it came before the kernel was asked.
import { strict as assert } from 'node:assert';
import { Group } from '../../lib';
import { FakeKernel } from './fake-binding';
import { EDU_SPEC, type FakeDeviceSpec } from './fake-device';

export const BDF = '0000:01:00.0';
export const tick = () => new Promise((resolve) => setImmediate(resolve));

/** NVMe as the kernel reports it: MSI-X with 65 vectors (table and PBA in BAR0), ERR present. */
export const NVME_SPEC: FakeDeviceSpec = {
  irqs: [
    EDU_SPEC.irqs[0],
    { flags: 9, count: 0 },
    { flags: 9, count: 65 },
    { flags: 9, count: 1 },
    { flags: 9, count: 1 },
  ],
  regions: [
    { flags: 15, size: 0x4000n, capabilities: [{ id: 3, version: 1, kind: 'msix-mappable' }] },
    ...EDU_SPEC.regions.slice(1, 6),
    { flags: 1, size: 0x8000n }, // a ROM: read-only
    { flags: 3, size: 256n },
  ],
  msix: { vectors: 65, table: { bar: 0, offset: 0x2000 }, pba: { bar: 0, offset: 0x3000 } },
};

export function open(spec?: FakeDeviceSpec) {
  const kernel = new FakeKernel({ pageSize: 4096, device: spec });
  const group = Group.open(0, { binding: kernel.binding() });
  const device = group.openDevice(BDF);
  return { kernel, group, device };
}

/** Asserts `fn` throws a `Class`, and returns it. */
export function thrown<E extends Error>(fn: () => unknown, Class: new (...args: never[]) => E): E {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof Class, `threw ${String(error)}, not a ${Class.name}`);
    return error;
  }
  throw new assert.AssertionError({ message: `did not throw a ${Class.name}` });
}

/** Asserts `fn` throws a `Class` (returned) and that `call` was not issued meanwhile. */
export function refusedBefore<E extends Error>(
  kernel: FakeKernel,
  call: string,
  fn: () => unknown,
  Class: new (...args: never[]) => E,
): E {
  const before = kernel.ioctls.filter((c) => c === call).length;
  let caught: unknown;
  assert.throws(fn, (e: unknown) => {
    caught = e;
    return e instanceof Class;
  });
  assert.equal(kernel.ioctls.filter((c) => c === call).length, before, `${call} was issued`);
  return caught as E;
}
