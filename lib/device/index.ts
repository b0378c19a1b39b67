// The device layer: a device fd and everything reached through it.
export { Device, type ConfigWidth, type DeviceInfo } from './device';
export { type Endianness } from './access';
export { EventFd, type EventFdLike, type EventFdOptions, type EventFdWatch } from './eventfd';
export { DeviceInterrupts, type DeviceErrorEvent, type DeviceRequestEvent } from './interrupts';
export { PCI_IRQ_INDEX, type IrqIndexInfo, type VectorRange, type VectorSelection } from './irqs';
export {
  PCI_REGION_NAMES,
  RegionIo,
  type DeviceRegion,
  type MsixLayout,
  type RegionArea,
  type TrappedArea,
} from './regions';
export { type HotResetInfo, type HotResetTarget } from './reset';
