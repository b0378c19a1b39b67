// The errors of the host side: groups, PCI addresses, driver binding.
import { VfioError } from './base';

/** The host allows one IOMMU group per container and a second one was attached. */
export class GroupLimitError extends VfioError {
  readonly group: number;
  /** The group the container already has. */
  readonly existing: number;
  constructor(facts: { group: number; existing: number }) {
    super(
      'ERR_VFIO_ONE_GROUP_PER_CONTAINER',
      `group ${facts.group} cannot join a container that already has group ${facts.existing}: ` +
        'this host allows one IOMMU group per container (pre-IODA2); open one container per group',
    );
    this.group = facts.group;
    this.existing = facts.existing;
  }
}

/** A device of the group, and the host driver it is bound to. */
export interface BoundDevice {
  readonly bdf: string;
  readonly driver: string;
}

/**
 * The group is not viable: some device in it is still bound to a host driver. `blockers`
 * names them where known (the CLI's bind reads them from sysfs).
 */
export class GroupNotViableError extends VfioError {
  readonly group: number;
  readonly blockers: readonly BoundDevice[];
  constructor(facts: { group: number; blockers?: readonly BoundDevice[]; device?: string }) {
    const blockers = facts.blockers ?? [];
    super(
      'ERR_VFIO_GROUP_NOT_VIABLE',
      blockers.length === 0
        ? `IOMMU group ${facts.group} is not viable: every device in it must be bound to ` +
            'vfio-pci (see `vfio-spapr list` and `vfio-spapr bind`)'
        : `IOMMU group ${facts.group}${facts.device ? ` of ${facts.device}` : ''} also holds ` +
            blockers.map((p) => `${p.bdf} (bound to ${p.driver})`).join(', ') +
            ': a group goes to VFIO whole; bind them together: vfio-spapr bind ' +
            [...(facts.device ? [facts.device] : []), ...blockers.map((p) => p.bdf)].join(' '),
    );
    this.group = facts.group;
    this.blockers = blockers;
  }
}

/** A PCI address that is not a well-formed domain:bus:device.function. */
export class InvalidBdfError extends VfioError {
  /** What was given, as text. */
  readonly value: string;
  constructor(facts: { value: string }) {
    super(
      'ERR_VFIO_INVALID_BDF',
      `${JSON.stringify(facts.value)} is not a PCI address of the form DDDD:BB:DD.F (e.g. 0000:01:00.0)`,
    );
    this.value = facts.value;
  }
}

/** A sysfs driver operation did not have the effect asked for. */
export class DriverBindError extends VfioError {
  /** The PCI address concerned, where there is one. */
  readonly device: string | null;
  constructor(facts: { device: string | null; problem: string }) {
    super('ERR_VFIO_DRIVER_BIND', facts.problem);
    this.device = facts.device;
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
