// mocha's spec reporter, plus the closing line CI reads: exactly "N passed, N failed" (the
// skipped count goes on the line before, so the last line stays plain).
'use strict';
const Mocha = require('mocha');

class CountReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const { passes, failures, pending } = runner.stats;
      process.stdout.write(`${pending} skipped\n${passes} passed, ${failures} failed\n`);
    });
  }
}

module.exports = CountReporter;
