// Opening /dev/vfio/vfio, and the failures of a container's own calls that have a cause a
// user can act on.
import type { NativeBinding, NativeError } from '../binding';
import { GroupLimitError, VfioUnavailableError, callNative } from '../errors';

/** Opens the container device and checks it speaks this library's VFIO API. */
export function openContainerFd(binding: NativeBinding): { fd: number; apiVersion: number } {
  const fd = callNative(
    'opening /dev/vfio/vfio',
    () => binding.openContainer(),
    (native) =>
      native.code === 'ENOENT' || native.code === 'ENODEV'
        ? new VfioUnavailableError({
            problem:
              `no VFIO container device (/dev/vfio/vfio: ${native.code}): this host has no VFIO; ` +
              'load the vfio, vfio_iommu_spapr_tce and vfio-pci modules on a POWER host',
          })
        : undefined,
  );
  const apiVersion = binding.getApiVersion(fd);
  if (apiVersion !== binding.constants.VFIO_API_VERSION) {
    binding.closeFd(fd);
    throw new VfioUnavailableError({
      problem: `VFIO API version ${apiVersion}, this library speaks ${binding.constants.VFIO_API_VERSION}`,
    });
  }
  return { fd, apiVersion };
}

/** EBUSY attaching a second group: a pre-IODA2 host allows one group per container. */
export function classifyAttachFailure(
  native: NativeError,
  group: number,
  existing: number | undefined,
): Error | undefined {
  if (native.code === 'EBUSY' && existing !== undefined) {
    return new GroupLimitError({ group, existing });
  }
  return undefined;
}
