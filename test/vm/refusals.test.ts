// The library's refusals on the real kernel: the same scenarios the host runs on the fake,
// each shown to happen before any ioctl. kernel-facts.test.ts shows the kernel misbehaving
// where these refusals stand in its way.
import { nativeBinding } from '../../lib/binding';
import { refusalScenarios } from '../scenarios/refusals';
import { guest } from './guest';

describe('library refusals (real kernel)', function () {
  refusalScenarios(() => ({
    binding: nativeBinding(),
    groups: guest().edu.map((d) => d.group),
  }));
});
