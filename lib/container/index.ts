// The container and the shapes its methods take.
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
} from './types';
