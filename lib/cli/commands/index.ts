// Every subcommand, in the order `vfio-spapr --help` lists them.
import type { Command } from '../command';
import { bind } from './bind';
import { conformance } from './conformance';
import { info } from './info';
import { list } from './list';
import { memlock } from './memlock';
import { selftest } from './selftest';
import { unbind } from './unbind';

export const COMMANDS: readonly Command[] = [
  list,
  bind,
  unbind,
  info,
  memlock,
  selftest,
  conformance,
];
