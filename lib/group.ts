// An IOMMU group (/dev/vfio/N): viability, attaching to a container, and device fds.
import { nativeBinding, type NativeBinding } from './binding';
import { Device } from './device';
import { installDispose } from './dispose';
import { callNative } from './errors';
import { Handle } from './handle';
import { toIndex, toOptions } from './validate';

export interface GroupStatus {
  /** Every device in the group is bound to vfio-pci (or no driver). */
  viable: boolean;
  /** The group is attached to a container. */
  containerSet: boolean;
}

export interface GroupOptions {
  /** The native binding to use (tests pass a fake). */
  binding?: NativeBinding;
}

/** @internal What a group tells the container it is attached to. */
export interface GroupOwner {
  /** Throws while closing the group would pull the IOMMU from under an operation in flight. */
  assertGroupClosable(group: Group): void;
  /** The group's fd was closed: the kernel detached it from the container. */
  groupClosed(group: Group): void;
}

export class Group extends Handle {
  /**
   * The group's file descriptor, for handing the group to KVM's VFIO device
   * (KVM_DEV_VFIO_GROUP_ADD, then KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE: docs/guest-iommu.md). The
   * Group owns it: close() closes it; KVM takes its own reference. Do not close it yourself.
   */
  readonly fd: number;
  private readonly devices = new Set<Device>();
  private owner: GroupOwner | null = null;

  private constructor(
    binding: NativeBinding,
    readonly number: number,
  ) {
    super(binding, `IOMMU group ${number}`);
    this.fd = callNative(`opening /dev/vfio/${number}`, () => binding.openGroup(number));
  }

  /** Opens /dev/vfio/N. */
  static open(groupNumber: number, options?: GroupOptions): Group {
    const number = toIndex('groupNumber', groupNumber);
    const opts = toOptions<GroupOptions>('options', options);
    return new Group(opts.binding ?? nativeBinding(), number);
  }

  status(): GroupStatus {
    this.assertUsable();
    const flags = callNative(`reading the status of group ${this.number}`, () =>
      this.binding.groupGetStatus(this.fd),
    );
    const c = this.binding.constants;
    return {
      viable: (flags & c.VFIO_GROUP_FLAGS_VIABLE) !== 0,
      containerSet: (flags & c.VFIO_GROUP_FLAGS_CONTAINER_SET) !== 0,
    };
  }

  /** Opens a device of this group by its name (the PCI address, e.g. '0000:01:00.0'). */
  openDevice(name: string): Device {
    this.assertUsable();
    const device = Device.fromGroup(this, name);
    this.devices.add(device);
    return device;
  }

  /** @internal A device of this group was closed. */
  forgetDevice(device: Device): void {
    this.devices.delete(device);
  }

  /** @internal For Container: the checks every group operation makes. */
  assertOpen(): void {
    this.assertUsable();
  }

  /** @internal The container the group was attached to. */
  attachTo(owner: GroupOwner): void {
    this.owner = owner;
  }

  /**
   * Closes the group's devices, then the group. The kernel detaches it from its container;
   * when it was the container's last group, the kernel releases the container's IOMMU (every
   * registration, mapping and window) and the container's books follow.
   */
  close(): void {
    if (this.closed) return;
    this.owner?.assertGroupClosable(this);
    this.markClosed();
    for (const device of [...this.devices]) device.close();
    try {
      callNative(`closing group ${this.number}`, () => this.binding.closeFd(this.fd));
    } finally {
      this.owner?.groupClosed(this);
      this.owner = null;
    }
  }
}

installDispose(Group, 'close');
