#!/usr/bin/env node
// The llmrec command line. Each command lives in lib/cli/commands/ and declares its options;
// each registered pipeline adds `llmrec <pipeline> <stage|all|command>` (lib/cli/pipeline.ts).
// This file only dispatches.
import { pipelines } from '../pipelines/index.js';
import { formatHelp, parseOptions, type Command } from './args.js';
import { dataCommand } from './commands/data.js';
import { demoCommand } from './commands/demo.js';
import { evalCommand } from './commands/eval.js';
import { infoCommand } from './commands/info.js';
import { lmCommand } from './commands/lm.js';
import { recommendCommand } from './commands/recommend.js';
import { tokenizerCommand } from './commands/tokenizer.js';
import { trainCommand } from './commands/train.js';
import { isUsageError, pipelineCommand, type CommandGroup } from './pipeline.js';

const program = 'llmrec';

// Register new commands here.
const commands: (Command | CommandGroup)[] = [
  demoCommand as Command,
  trainCommand as Command,
  evalCommand as Command,
  recommendCommand as Command,
  dataCommand as Command,
  infoCommand as Command,
  tokenizerCommand as Command,
  lmCommand as Command,
  ...pipelines().map(pipelineCommand),
];

const isGroup = (c: Command | CommandGroup): c is CommandGroup => !('options' in c);

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
  const help = () => (isGroup(command) ? command.help(rest) : formatHelp(program, command));
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(help());
    return 0;
  }
  try {
    if (isGroup(command)) await command.run(rest);
    else {
      const { options, positionals, given } = parseOptions(command.options, rest);
      await command.run(options, positionals, given);
    }
    return 0;
  } catch (error) {
    if (isUsageError(error)) {
      console.error(`${program} ${command.name}: ${(error as Error).message}\n\n${help()}`);
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
