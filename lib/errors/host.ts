// The errors of the host side: groups, PCI addresses, driver binding.
import { VfioError } from './base';

/** The host allows one IOMMU group per container and a second one was attached. */
export class GroupLimitError extends VfioError {
  constructor(message: string) {
    super('ERR_VFIO_ONE_GROUP_PER_CONTAINER', message);
  }
}

/** The group is not viable: some device in it is still bound to a host driver. */
export class GroupNotViableError extends VfioError {
  constructor(message: string) {
    super('ERR_VFIO_GROUP_NOT_VIABLE', message);
  }
}

/** A PCI address that is not a well-formed domain:bus:device.function. */
export class InvalidBdfError extends VfioError {
  constructor(bdf: string) {
    super(
      'ERR_VFIO_INVALID_BDF',
      `${JSON.stringify(bdf)} is not a PCI address of the form DDDD:BB:DD.F (e.g. 0000:01:00.0)`,
    );
  }
}

/** A sysfs driver operation did not have the effect asked for. */
export class DriverBindError extends VfioError {
  constructor(message: string) {
    super('ERR_VFIO_DRIVER_BIND', message);
  }
}

/** A device `vfio-spapr selftest` has no test for: it drives QEMU's edu and NVMe controllers. */
export class UnsupportedDeviceError extends VfioError {
  readonly bdf: string;
  readonly vendor: string;
  readonly device: string;
  readonly pciClass: string;
  constructor(facts: { bdf: string; vendor: string; device: string; pciClass: string }) {
    super(
      'ERR_VFIO_UNSUPPORTED_DEVICE',
      `${facts.bdf} is ${facts.vendor}:${facts.device}, PCI class ${facts.pciClass}: the self-test ` +
        "knows NVMe controllers (class 0x010802) and QEMU's edu device (1234:11e8); name one of " +
        'those (see `vfio-spapr list`)',
    );
    this.bdf = facts.bdf;
    this.vendor = facts.vendor;
    this.device = facts.device;
    this.pciClass = facts.pciClass;
  }
}
