// The edu driver moved into the library (lib/edu.ts) so that `vfio-spapr selftest` can
// use it; this path stays for the programs and tests that import it from here.
export { Edu, EDU_BUFFER, EDU_MAX_TRANSFER } from '../lib/edu';
