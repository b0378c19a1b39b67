// Every row `vfio-spapr conformance` measures, in the order of docs/kernel.md.
import type { Row } from '../row';
import { CONTAINER_ROWS } from './container';
import { ISOLATED_ROWS } from './isolated';
import { MAPPING_ROWS } from './mapping';
import { REGISTRATION_ROWS } from './registration';
import { V1_ROWS } from './v1';
import { WINDOW_ROWS } from './windows';

const SECTIONS = ['container', 'v1', 'registration', 'mapping', 'windows'];

export const CONFORMANCE_ROWS: readonly Row[] = [
  ...CONTAINER_ROWS,
  ...V1_ROWS,
  ...REGISTRATION_ROWS,
  ...MAPPING_ROWS,
  ...WINDOW_ROWS,
  ...ISOLATED_ROWS,
].sort((a, b) => SECTIONS.indexOf(a.section) - SECTIONS.indexOf(b.section));
