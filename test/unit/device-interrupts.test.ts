// The device layer's interrupts against the fake kernel (test/support/fake-device.ts): every
// refusal typed, with its facts, before the kernel is asked; routes, loopback, typed events. The
// same behaviours run on the real kernel in test/vm/interrupts.test.ts and test/vm/device.test.ts.
import { strict as assert } from 'node:assert';
import {
  ArgumentRangeError,
  ClosedError,
  EventFd,
  InterruptNotEnabledError,
  InterruptNotSupportedError,
  InterruptResizeError,
  InterruptsBusyError,
  InvalidArgumentError,
  PCI_IRQ_INDEX,
  type Device,
} from '../../lib';
import { BDF, NVME_SPEC, open, refusedBefore, thrown, tick } from '../support/device-fixtures';
import type { FakeKernel } from '../support/fake-binding';

describe('device interrupts (fake kernel)', function () {
  let kernel: FakeKernel;
  let device: Device;

  beforeEach(function () {
    ({ kernel, device } = open(NVME_SPEC));
  });

  const SET = 'VFIO_DEVICE_SET_IRQS';

  it('decodes the IRQ info flags, and lists the indexes the device has', function () {
    const edu = open().device;
    assert.deepEqual(
      edu.irqs().map((i) => [i.name, i.count, i.maskable, i.automasked, i.noresize]),
      [
        ['INTX', 1, true, true, false],
        ['MSI', 1, false, false, true],
        ['MSIX', 0, false, false, true],
        ['REQ', 1, false, false, true],
      ],
    );
  });

  it('refuses an index the device lacks, and an action vfio-pci does not offer on it', function () {
    const fd = EventFd.create({ binding: kernel.binding() });
    const none = refusedBefore(
      kernel,
      SET,
      () => device.setInterruptTriggers(PCI_IRQ_INDEX.msi, [fd]),
      InterruptNotSupportedError,
    );
    assert.equal(none.count, 0);
    assert.equal(none.indexName, 'MSI');
    const edu = open();
    const err = refusedBefore(
      edu.kernel,
      SET,
      () => edu.device.onError(() => undefined),
      InterruptNotSupportedError,
    );
    assert.equal(err.indexName, 'ERR');
    device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [fd]);
    const mask = refusedBefore(
      kernel,
      SET,
      () => device.maskInterrupt(PCI_IRQ_INDEX.msix),
      InterruptNotSupportedError,
    );
    assert.equal(mask.action, 'mask');
    assert.equal(mask.flags, 9);
    assert.match(mask.message, /lack VFIO_IRQ_INFO_MASKABLE/);
  });

  it('one of INTx, MSI and MSI-X at a time: the second is InterruptsBusyError until the first is off', function () {
    const fd = EventFd.create({ binding: kernel.binding() });
    device.setInterruptTriggers(PCI_IRQ_INDEX.intx, [fd]);
    const e = refusedBefore(
      kernel,
      SET,
      () => device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [fd]),
      InterruptsBusyError,
    );
    assert.equal(e.activeName, 'INTX');
    assert.equal(e.requestedName, 'MSIX');
    device.disableInterrupts(PCI_IRQ_INDEX.intx);
    device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [fd]);
  });

  it('a range beyond the vectors enabled is InterruptResizeError (NORESIZE); beyond the device, a range error', function () {
    const [a, b, c] = [1, 2, 3].map(() => EventFd.create({ binding: kernel.binding() }));
    device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [a, b], { start: 1 });
    assert.deepEqual([...device.interruptTriggers(PCI_IRQ_INDEX.msix).keys()], [1, 2]);
    const e = refusedBefore(
      kernel,
      SET,
      () => device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [c], { start: 3 }),
      InterruptResizeError,
    );
    assert.equal(e.enabled, 3);
    assert.equal(e.requested, 4);
    // Inside the enabled vectors: vector 0 added, vector 2 changed, vector 1 removed.
    device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [c], { start: 0 });
    device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [null, a], { start: 1 });
    assert.deepEqual(
      [...device.interruptTriggers(PCI_IRQ_INDEX.msix)],
      [
        [0, c.fd],
        [2, a.fd],
      ],
    );
    refusedBefore(
      kernel,
      SET,
      () => device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [a], { start: 65 }),
      ArgumentRangeError,
    );
    refusedBefore(
      kernel,
      SET,
      () => device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [-1 as never]),
      InvalidArgumentError,
    );
  });

  it('mask and unmask need INTx on; mask by eventfd is the kernel ENOTTY, typed', function () {
    const trigger = EventFd.create({ binding: kernel.binding() });
    const off = refusedBefore(
      kernel,
      SET,
      () => device.unmaskInterrupt(PCI_IRQ_INDEX.intx),
      InterruptNotEnabledError,
    );
    assert.deepEqual(off.vectors, [0]);
    device.setInterruptTriggers(PCI_IRQ_INDEX.intx, [trigger]);
    device.maskInterrupt(PCI_IRQ_INDEX.intx);
    assert.equal(kernel.devices.state(device.fd)?.masked, true);
    device.unmaskInterrupt(PCI_IRQ_INDEX.intx, { vectors: [true] });
    assert.equal(kernel.devices.state(device.fd)?.masked, false);
    device.setUnmaskEventfd(PCI_IRQ_INDEX.intx, EventFd.create({ binding: kernel.binding() }));
    const e = thrown(
      () => device.setMaskEventfd(PCI_IRQ_INDEX.intx, trigger),
      InterruptNotSupportedError,
    );
    assert.equal(e.action, 'mask-eventfd');
    assert.match(e.message, /ENOTTY/);
    refusedBefore(
      kernel,
      SET,
      () => device.unmaskInterrupt(PCI_IRQ_INDEX.intx, { vectors: [1 as never] }),
      InvalidArgumentError,
    );
  });

  it('the loopback trigger signals the eventfds routed, and refuses vectors with none', async function () {
    const [a, b] = [1, 2].map(() => EventFd.create({ binding: kernel.binding() }));
    device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [a, b]);
    const e = refusedBefore(
      kernel,
      SET,
      () => device.triggerInterrupt(PCI_IRQ_INDEX.msix, { start: 0, count: 3 }),
      InterruptNotEnabledError,
    );
    assert.deepEqual(e.vectors, [2]);
    device.triggerInterrupt(PCI_IRQ_INDEX.msix, { start: 0, count: 2, vectors: [false, true] });
    assert.equal(a.read(), 0n);
    assert.equal(b.read(), 1n);
    device.disableInterrupts(PCI_IRQ_INDEX.msix);
    // off is off: no SET_IRQS (the kernel would say EINVAL)
    const sets = kernel.ioctls.filter((c) => c === SET).length;
    device.disableInterrupts(PCI_IRQ_INDEX.msix);
    assert.equal(kernel.ioctls.filter((c) => c === SET).length, sets);
  });

  it('enableInterrupts watches its eventfds; disable() de-assigns only its vectors, the index goes off with the last', async function () {
    const mine = device.enableInterrupts(PCI_IRQ_INDEX.msix, { start: 0, count: 2 });
    const seen: [number, bigint][] = [];
    mine.on('interrupt', (vector, count) => seen.push([vector, count]));
    device.triggerInterrupt(PCI_IRQ_INDEX.msix, { start: 1, count: 1 });
    await tick();
    assert.deepEqual(seen, [[1, 1n]]);
    const callers = EventFd.create({ binding: kernel.binding() });
    device.setInterruptTriggers(PCI_IRQ_INDEX.msix, [callers], { start: 1 });
    mine.disable();
    assert.deepEqual([...device.interruptTriggers(PCI_IRQ_INDEX.msix)], [[1, callers.fd]]);
    assert.equal(kernel.devices.state(device.fd)?.mode?.index, PCI_IRQ_INDEX.msix);
    assert.ok(mine.eventfds.every((e) => e.closed));
    const again = device.enableInterrupts(PCI_IRQ_INDEX.msix, { start: 1, count: 1 });
    again.disable();
    assert.equal(kernel.devices.state(device.fd)?.mode, null, 'the last route took the index off');
  });

  it('REQ and ERR arrive as typed events', async function () {
    const events: unknown[] = [];
    const req = device.onRequest((event) => events.push(event));
    const err = device.onError((event) => events.push(event));
    device.triggerInterrupt(PCI_IRQ_INDEX.req);
    device.triggerInterrupt(PCI_IRQ_INDEX.err);
    await tick();
    assert.deepEqual(events, [
      { kind: 'request', device: BDF, count: 1n },
      { kind: 'error', device: BDF, count: 1n },
    ]);
    req.disable();
    err.disable();
    assert.equal(device.interruptTriggers(PCI_IRQ_INDEX.req).size, 0);
  });

  it('closing the device frees its routes without an ioctl (the kernel turns them off)', function () {
    const route = device.enableInterrupts(PCI_IRQ_INDEX.msix, { count: 4 });
    const calls = kernel.ioctls.filter((c) => c === SET).length;
    device.close();
    assert.equal(kernel.ioctls.filter((c) => c === SET).length, calls);
    assert.ok(route.disabled && route.eventfds.every((e) => e.closed));
    assert.deepEqual(kernel.devices.openEventfds(), []);
  });

  it('EventFd: values, closed use', function () {
    const fd = EventFd.create({ binding: kernel.binding() });
    for (const bad of [0n, -1n, 1n << 64n, 1 as never]) {
      assert.throws(() => fd.write(bad), InvalidArgumentError);
    }
    fd.write(3n);
    assert.equal(fd.read(), 3n);
    fd.close();
    fd.close();
    assert.throws(() => fd.read(), ClosedError);
    assert.throws(() => fd.fd, ClosedError);
  });
});
