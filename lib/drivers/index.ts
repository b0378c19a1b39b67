// Drivers for the devices of the rig and of `vfio-spapr selftest`, built on the public API:
// QEMU's edu device, and NVMe controllers (QEMU's and real ones) with the DMA arena their
// queues live in. Exported as `vfio-spapr/drivers`, apart from the library's API: they are
// test and example drivers, not a general device layer.
export { Edu, EDU_BUFFER, EDU_DEVICE, EDU_MAX_TRANSFER, EDU_VENDOR } from './edu';
export {
  eduDmaRoundTrip,
  findEduDevice,
  type EduDevice,
  type RoundTripOptions,
  type RoundTripResult,
} from './edu-round-trip';
export { DmaArena, type DmaChunk } from './dma-arena';
export {
  NVME_CLASS,
  NvmeController,
  findNvmeController,
  type NvmeDevice,
  type NvmeOptions,
  type NvmeQueuePairOptions,
} from './nvme';
export {
  NvmeQueuePair,
  type NvmeBlockNamespace,
  type NvmeCommand,
  type NvmeCompletion,
} from './nvme-queue';
export type { NvmeControllerIdentity, NvmeNamespaceIdentity } from './nvme-identity';
export {
  NvmeCommandError,
  NvmeControllerFatalError,
  NvmeQueueFullError,
  NvmeTimeoutError,
} from './nvme-errors';
export {
  nvmeSelftest,
  type NvmeSelftestOptions,
  type NvmeSelftestResult,
  type NvmeWindowPass,
} from './nvme-selftest';
