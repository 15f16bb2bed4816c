#!/usr/bin/env node
// The llmrec command line. Each command lives in lib/cli/commands/ and declares its options;
// each registered pipeline adds `llmrec <pipeline> <stage|all|command>` (lib/cli/pipeline.ts).
// This file only dispatches.
import { closeMatches } from '../pipelines/config.js';
import { pipelines } from '../pipelines/index.js';
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
import { isUsageError, pipelineCommand, type CommandGroup } from './pipeline.js';

const program = 'llmrec';

// Register new commands here.
export const commands: (Command | CommandGroup)[] = [
  demoCommand as Command,
  trainCommand as Command,
  evalCommand as Command,
  recommendCommand as Command,
  serveCommand as Command,
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
    const close = closeMatches(
      name,
      commands.map((c) => c.name),
    );
    console.error(
      `${program}: unknown command '${name}'${close.length ? `; did you mean ${close.join(' or ')}?` : ''}\n` +
        `Run '${program} --help' for the list of commands.`,
    );
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
      // A command that declares no positional arguments takes none: a stray word is a mistake
      // (a flag without its dashes, a second model...), never something to ignore.
      if (!command.positionals && positionals.length > 0)
        throw new UsageError(`takes no positional arguments; unexpected: ${positionals.join(' ')}`);
      await command.run(options, positionals, given);
    }
    return 0;
  } catch (error) {
    if (isUsageError(error)) {
      // The message and where help is; the whole help text would bury the message.
      const sub = isGroup(command) && rest[0] && !rest[0].startsWith('-') ? ` ${rest[0]}` : '';
      console.error(
        `${program} ${command.name}: ${(error as Error).message}\n` +
          `Run '${program} ${command.name}${sub} --help' for its usage and options.`,
      );
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
