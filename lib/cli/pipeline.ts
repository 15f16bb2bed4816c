// `llmrec <pipeline> <stage|all|command> [options]`, built from the pipeline registry: the flags
// of a stage are its pipeline's config keys (lib/pipelines/config.ts) plus the run options below.
import * as path from 'node:path';

import { ConfigError, flagsToKeys, resolveConfig, schemaOptions, type ConfigSchema } from '../pipelines/config.js';
import type { DatasetLoader } from '../pipelines/data.js';
import type { Pipeline, PipelineCommand } from '../pipelines/registry.js';
import {
  runAll,
  runCommand,
  runStage,
  StageOrderError,
  type RunOptions,
  type StageOutcome,
} from '../pipelines/stage.js';
import { defaultSink } from '../train/progress.js';
import { formatHelp, parseOptions, UsageError, type Command, type OptionSpecs } from './args.js';
import { formatTable, resolveDevice } from './commands/common.js';
import { loadCliDataset } from './data-options.js';

/** Flags of every stage besides its pipeline's config keys. */
export const runOptions = {
  out: { type: 'string', description: 'the run folder (default runs/<pipeline>)' },
  config: { type: 'string', description: 'a JSON file of config keys (over the defaults, under these flags)' },
  device: { type: 'string', description: 'cpu, cuda or cuda:N', default: 'cpu' },
  resume: { type: 'boolean', description: 'continue the stage from its checkpoints in the run folder', default: false },
} as const satisfies OptionSpecs;

/** A command with subcommands: it parses its own arguments and writes its own help. */
export interface CommandGroup {
  name: string;
  summary: string;
  help(argv: string[]): string;
  run(argv: string[]): Promise<void>;
}

const program = 'llmrec';

/** The dataset loader of the command line: loads the config's dataset and prints what it kept and dropped. */
const cliDatasetLoader: DatasetLoader = (config) => loadCliDataset(config);

/** Quotes an argument for a shell when it needs it. */
function shellWord(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The merged config from a parsed command line: defaults ← --config ← flags. Usage errors for bad keys. */
export function configFromFlags<S extends ConfigSchema>(
  schema: S,
  options: Record<string, unknown>,
  given: ReadonlySet<string>,
  extra: Record<string, unknown> = {},
) {
  return resolveConfig(schema, {
    file: options.config as string | undefined,
    flags: { ...flagsToKeys(schema, options, given), ...extra },
  });
}

/** The run options for `runStage`/`runAll` from a parsed command line. */
export function runOptionsFromFlags<C>(
  pipeline: Pipeline,
  config: C,
  options: Record<string, unknown>,
  rerun: (stage: string) => string,
  defaultOut = path.join('runs', pipeline.name),
): RunOptions<C> {
  return {
    dir: (options.out as string | undefined) ?? defaultOut,
    config,
    device: resolveDevice(options.device as string),
    resume: options.resume === true,
    progress: (stage) => defaultSink(`${pipeline.name} ${stage}`),
    log: (message) => console.error(message),
    loadDataset: cliDatasetLoader,
    commandFor: rerun,
  };
}

function flattenMetrics(value: unknown, prefix = ''): [string, number | string][] {
  if (typeof value === 'number') return [[prefix, value]];
  if (typeof value === 'string') return [[prefix, value]];
  if (value && typeof value === 'object' && !Array.isArray(value))
    return Object.entries(value).flatMap(([k, v]) => flattenMetrics(v, prefix ? `${prefix}.${k}` : k));
  return [];
}

function printOutcome(stage: string, outcome: StageOutcome): void {
  const rows = flattenMetrics(outcome.metrics ?? {});
  if (rows.length > 0) console.log(`${stage}:\n${formatTable(['metric', 'value'], rows)}`);
}

function stageSpecs(pipeline: Pipeline): OptionSpecs {
  return { ...runOptions, ...schemaOptions(pipeline.config) };
}

function commandSpecs(pipeline: Pipeline, command: PipelineCommand<unknown>): OptionSpecs {
  const own = schemaOptions(command.options ?? {});
  const config = schemaOptions(pipeline.config);
  for (const flag of Object.keys(own))
    if (flag in config || flag in runOptions)
      throw new Error(`${pipeline.name} ${command.name}: its option --${flag} is also a config key or run option`);
  const { resume: _resume, ...run } = runOptions;
  return { ...run, ...config, ...own };
}

function pipelineHelp(pipeline: Pipeline): string {
  const entries: [string, string][] = [
    ...pipeline.stages.map((s): [string, string] => [
      s.name,
      `${s.summary}${s.requires.length ? ` (needs ${s.requires.join(', ')})` : ''}`,
    ]),
    ['all', 'run every stage in order, skipping those done with the same config and inputs'],
    ...(pipeline.commands ?? []).map((c): [string, string] => [c.name, c.summary]),
  ];
  const width = Math.max(...entries.map(([n]) => n.length));
  return [
    `usage: ${program} ${pipeline.name} <stage|all|command> [options]`,
    '',
    pipeline.summary,
    '',
    'stages and commands:',
    ...entries.map(([n, s]) => `  ${n.padEnd(width)}  ${s}`),
    '',
    `Run '${program} ${pipeline.name} <stage> --help' for its options.`,
  ].join('\n');
}

/** `llmrec <pipeline> ...` for a registered pipeline. */
export function pipelineCommand(pipeline: Pipeline): CommandGroup {
  const commands = pipeline.commands ?? [];
  const lookup = (sub: string | undefined): { specs: OptionSpecs; summary: string } | undefined => {
    if (sub === 'all') return { specs: stageSpecs(pipeline), summary: 'Run every stage in order.' };
    const stage = pipeline.stages.find((s) => s.name === sub);
    if (stage) return { specs: stageSpecs(pipeline), summary: stage.summary };
    const command = commands.find((c) => c.name === sub);
    if (command) return { specs: commandSpecs(pipeline, command), summary: command.summary };
    return undefined;
  };
  const subcommand = (argv: string[]) => (argv[0] && !argv[0].startsWith('-') ? argv[0] : undefined);
  return {
    name: pipeline.name,
    summary: pipeline.summary,
    help(argv) {
      const sub = subcommand(argv);
      const found = lookup(sub);
      if (!found) return pipelineHelp(pipeline);
      const command: Command = {
        name: `${pipeline.name} ${sub}`,
        summary: found.summary,
        options: found.specs,
        run: async () => {},
      };
      return formatHelp(program, command);
    },
    async run(argv) {
      const sub = subcommand(argv);
      const found = lookup(sub);
      if (!found)
        throw new UsageError(
          sub
            ? `${pipeline.name} has no stage or command '${sub}'; it has ${[...pipeline.stages.map((s) => s.name), 'all', ...commands.map((c) => c.name)].join(', ')}`
            : `${pipeline.name} needs a stage or command; run '${program} ${pipeline.name} --help'`,
        );
      const rest = argv.slice(1);
      const { options, positionals, given } = parseOptions(found.specs, rest);
      if (positionals.length > 0) throw new UsageError(`unexpected arguments: ${positionals.join(' ')}`);
      const config = configFromFlags(pipeline.config, options, given);
      const rerun = (stage: string) => [program, pipeline.name, stage, ...rest.map(shellWord)].join(' ');
      const run = runOptionsFromFlags(pipeline, config, options, rerun);
      const command = commands.find((c) => c.name === sub);
      if (command) {
        await runCommand(pipeline, command.name, {
          ...run,
          commandOptions: flagsToKeys(command.options ?? {}, options, given),
        });
      } else if (sub === 'all') {
        const result = await runAll(pipeline, run);
        for (const [stage, outcome] of Object.entries(result.outcomes)) printOutcome(stage, outcome);
        console.error(`${pipeline.name}: every stage is done in ${run.dir}`);
      } else {
        printOutcome(sub!, await runStage(pipeline, sub!, run));
        console.error(`${pipeline.name} ${sub}: done in ${run.dir}`);
      }
    },
  };
}

/** Whether an error is the user's to fix on the command line (exit code 2). */
export function isUsageError(error: unknown): boolean {
  return error instanceof UsageError || error instanceof ConfigError || error instanceof StageOrderError;
}
