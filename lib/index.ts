// The public API: re-exports only. The raw addon (`vfio-spapr/native`) and the test-device
// drivers (`vfio-spapr/drivers`) are subpath exports of their own, outside what is supported here.
export { Container } from './container';
export type {
  AsyncRegisterOptions,
  CallerOwnedMemoryOptions,
  ContainerInfo,
  ContainerOptions,
  IommuType,
  MapManyEntry,
  MapOptions,
  RegisterOptions,
  TranslationInfo,
  WindowOptions,
} from './container';
export { Group, type GroupOptions, type GroupStatus } from './group';
export {
  Device,
  DeviceInterrupts,
  EventFd,
  PCI_IRQ_INDEX,
  PCI_REGION_NAMES,
  RegionIo,
  type ConfigWidth,
  type DeviceErrorEvent,
  type DeviceInfo,
  type DeviceRegion,
  type DeviceRequestEvent,
  type EventFdLike,
  type EventFdOptions,
  type EventFdWatch,
  type HotResetInfo,
  type HotResetTarget,
  type IrqIndexInfo,
  type MsixLayout,
  type RegionArea,
  type TrappedArea,
  type VectorRange,
  type VectorSelection,
} from './device';
export { MmioRegion, type Endianness } from './mmio';
export { Eeh, type EehErrorInjection, type EehPeState } from './eeh';
export { DmaBuffer, type DmaBufferOptions } from './dma-buffer';
export { Region } from './region';
export { Mapping } from './mapping';
export { Window } from './window';
export {
  fits,
  memlockReport,
  readMemlockStatus,
  registrationBytes,
  tceLevelBytes,
  tceTableBytes,
  ulimitKiBFor,
  v1EnableBytes,
  type MemlockReport,
  type MemlockStatus,
  type PlannedCost,
} from './memlock';
export {
  Sysfs,
  parseBdf,
  type IommuGroupInfo,
  type PciDeviceInfo,
  type SysfsOptions,
} from './sysfs';
export * from './guest';
export * from './errors';
