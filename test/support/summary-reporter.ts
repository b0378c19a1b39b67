// Mocha's spec reporter plus one machine-readable line at the end, which scripts/test.js
// collects from the host run and from each guest's console to print the overall total.
// The line names each failed test with the first line of its error: CI keeps only the tail
// of a run's output, and the summary there must say what failed, not only how many.
import Mocha from 'mocha';

const MAX_CHARS = 300;

function clip(text: string): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > MAX_CHARS ? `${line.slice(0, MAX_CHARS)}...` : line;
}

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    const failed: { test: string; error: string }[] = [];
    runner.on(Mocha.Runner.constants.EVENT_TEST_FAIL, (test: Mocha.Test, error: Error) => {
      failed.push({ test: clip(test.fullTitle()), error: clip(String(error?.message ?? error)) });
    });
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const { passes, failures, pending } = this.stats;
      const suite = process.env.VFIO_SUITE_NAME ?? 'suite';
      console.log(
        `VFIO_SUITE_RESULT ${JSON.stringify({ suite, passes, failures, pending, failed })}`,
      );
    });
  }
}

export = SummaryReporter;
