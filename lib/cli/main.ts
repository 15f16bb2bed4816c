#!/usr/bin/env node
// The llmrec command line. Each command lives in lib/cli/commands/ and declares its options;
// this file only dispatches.
import { formatHelp, parseOptions, UsageError, type Command } from './args.js';
import { dataCommand } from './commands/data.js';
import { demoCommand } from './commands/demo.js';
import { evalCommand } from './commands/eval.js';
import { infoCommand } from './commands/info.js';
import { lmCommand } from './commands/lm.js';
import { recommendCommand } from './commands/recommend.js';
import { serveCommand } from './commands/serve.js';
import { tokenizerCommand } from './commands/tokenizer.js';
import { trainCommand } from './commands/train.js';

const program = 'llmrec';

// Register new commands here.
const commands: Command[] = [
  demoCommand as Command,
  trainCommand as Command,
  evalCommand as Command,
  recommendCommand as Command,
  serveCommand as Command,
  dataCommand as Command,
  infoCommand as Command,
  tokenizerCommand as Command,
  lmCommand as Command,
];

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    `usage: ${program} <command> [options]`,
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    `Run '${program} <command> --help' for a command's options.`,
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    console.error(`${program}: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(formatHelp(program, command));
    return 0;
  }
  try {
    const { options, positionals } = parseOptions(command.options, rest);
    await command.run(options, positionals);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`${program} ${command.name}: ${error.message}\n\n${formatHelp(program, command)}`);
      return 2;
    }
    console.error(`${program} ${command.name}: ${error instanceof Error ? error.message : String(error)}`);
    if (process.env.LLMREC_DEBUG && error instanceof Error) console.error(error.stack);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
