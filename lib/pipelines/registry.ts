// The pipelines llmrec knows, by name. The command line builds `llmrec <pipeline> <stage|command>`
// and its --help from this registry, so adding a pipeline adds its commands.
import type { LoadedDataset } from '../data/source.js';
import type { ProgressSink } from '../train/progress.js';
import type { ConfigOf, ConfigSchema } from './config.js';
import type { RunAllResult, Stage } from './stage.js';
import { expectArgs } from '../guard.js';

/** What an extra command (ablation, compare, describe...) gets besides its own options. */
export interface CommandContext<C> {
  pipeline: Pipeline;
  /** The merged config of the pipeline (defaults ← --config ← flags). */
  config: C;
  /** The command's folder (--out); it holds run folders it makes, e.g. one per ablation row. */
  dir: string;
  device: string;
  progress: (stage: string) => ProgressSink;
  log(message: string): void;
  /** The dataset the config names. */
  dataset(): Promise<LoadedDataset>;
  /** Runs every stage of this pipeline in the run folder `dir` with `config` (see runAll). */
  runAll(dir: string, config: C): Promise<RunAllResult>;
}

export interface PipelineCommand<C, O extends ConfigSchema = ConfigSchema> {
  name: string;
  summary: string;
  /** Flags of this command only (not part of a run's config), declared like a config schema. */
  options?: O;
  run(ctx: CommandContext<C>, options: ConfigOf<O>): Promise<void>;
}

/** Types a command's options from its schema. */
export function definePipelineCommand<C, const O extends ConfigSchema = Record<never, never>>(
  command: PipelineCommand<C, O>,
): PipelineCommand<C> {
  return command as unknown as PipelineCommand<C>;
}

export interface Pipeline<S extends ConfigSchema = ConfigSchema> {
  name: string;
  summary: string;
  /** The config schema; it must include the common keys (commonConfig: the dataset and the seed). */
  config: S;
  /** In the order `all` runs them; a stage may require only earlier ones. */
  stages: readonly Stage<ConfigOf<S>, unknown>[];
  commands?: readonly PipelineCommand<ConfigOf<S>>[];
}

const registry = new Map<string, Pipeline>();

/** Names a stage or command cannot have: what the command line gives its own meaning. */
const reserved = ['all', 'help'];

/** Adds a pipeline; names are unique, and its stages' requirements must be earlier stages. */
export function registerPipeline<S extends ConfigSchema>(pipeline: Pipeline<S>): Pipeline<S> {
  expectArgs('registerPipeline', { pipeline }, 'object');
  const where = `registerPipeline '${pipeline.name}'`;
  if (!/^[a-z][\w-]*$/.test(pipeline.name)) throw new Error(`${where}: not a valid name (lower-case, digits, - and _)`);
  if (registry.has(pipeline.name)) throw new Error(`${where}: a pipeline of that name is already registered`);
  for (const key of ['data', 'seed'])
    if (!(key in pipeline.config)) throw new Error(`${where}: its config lacks '${key}' (spread commonConfig into it)`);
  const seen = new Set<string>();
  for (const stage of pipeline.stages) {
    for (const need of stage.requires)
      if (!seen.has(need))
        throw new Error(`${where}: stage '${stage.name}' requires '${need}', which is not an earlier stage`);
    if (seen.has(stage.name) || reserved.includes(stage.name))
      throw new Error(`${where}: stage name '${stage.name}' is taken`);
    seen.add(stage.name);
  }
  for (const command of pipeline.commands ?? []) {
    if (seen.has(command.name) || reserved.includes(command.name))
      throw new Error(`${where}: command name '${command.name}' is taken by a stage or another command`);
    seen.add(command.name);
  }
  registry.set(pipeline.name, pipeline as unknown as Pipeline);
  return pipeline;
}

/** The registered pipelines, in registration order. */
export function pipelines(): Pipeline[] {
  return [...registry.values()];
}

/** A registered pipeline, or an Error that lists them. */
export function pipelineEntry(name: string): Pipeline {
  const pipeline = registry.get(name);
  if (!pipeline)
    throw new Error(`pipeline: unknown pipeline '${name}'; registered: ${[...registry.keys()].join(', ')}`);
  return pipeline;
}
