// Mocha's spec reporter plus one machine-readable line at the end, which scripts/test.js
// collects from the host run and from each guest's console to print the overall total.
import Mocha from 'mocha';

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const { passes, failures, pending } = this.stats;
      const suite = process.env.VFIO_SUITE_NAME ?? 'suite';
      console.log(`VFIO_SUITE_RESULT ${JSON.stringify({ suite, passes, failures, pending })}`);
    });
  }
}

export = SummaryReporter;
