// The books: pure bookkeeping of regions, windows and mappings (no I/O).
export { Ledger } from './ledger';
export { toGranules } from './granules';
export type {
  MapPlan,
  MapRequest,
  MappingRecord,
  RegionRecord,
  RegisterPlan,
  Translation,
  WindowRecord,
  WindowServer,
} from './records';
