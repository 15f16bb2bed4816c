// The CLI flag fuzz's child process (cli-flags.test.ts): every typed flag of every command with
// values of the wrong form, through the CLI's own main() in this one process (a process per case
// would take minutes). Prints one JSON line per case: the exit code and what went to stderr.
import { writeLine } from './case-runner.js';

process.argv = [process.argv[0]!, 'llmrec', 'info', '--not-a-flag']; // main.js runs this on import: a quick refusal
const { main, commands } = await import('../../lib/cli/main.js');

const wrongValues: Record<string, string[]> = {
  integer: ['', ' ', '0x1', '1.5', 'x', '1e999', '--'],
  number: ['', ' ', '0x10', 'x', 'NaN', 'Infinity', '1e999'],
  boolean: ['maybe', ''],
  choices: ['bogus', ''],
};

let stderr = '';
console.error = (...parts: unknown[]) => void (stderr += `${parts.map(String).join(' ')}\n`);
console.log = () => undefined;
for (const command of commands) {
  if (!('options' in command)) continue; // pipeline groups parse through the same parseOptions
  for (const [flag, spec] of Object.entries(command.options)) {
    const kind = spec.choices ? 'choices' : spec.type;
    for (const value of wrongValues[kind] ?? []) {
      const argv = [command.name, spec.type === 'boolean' ? `--${flag}=${value}` : `--${flag}`, value];
      if (spec.type === 'boolean') argv.pop();
      stderr = '';
      const code = await main(argv);
      writeLine({ argv, code, stderr: stderr.slice(0, 400) });
    }
  }
}
writeLine({ done: true });
process.exit(0);
