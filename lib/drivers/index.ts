// Drivers for the test devices of the rig and of `vfio-spapr selftest`, built on the public
// API: QEMU's edu device. Exported as `vfio-spapr/drivers`, apart from the library's API: they
// drive one emulated device each and are not a general device layer.
export { Edu, EDU_BUFFER, EDU_DEVICE, EDU_MAX_TRANSFER, EDU_VENDOR } from './edu';
export {
  eduDmaRoundTrip,
  findEduDevice,
  type EduDevice,
  type RoundTripOptions,
  type RoundTripResult,
} from './edu-round-trip';
