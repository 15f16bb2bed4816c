// Stages: the steps of a pipeline, each a function of a typed config that writes into its own
// folder of a run folder.
//
//   export const csft = defineStage<LLM2RecConfig>({
//     name: 'csft', summary: '...', requires: [],
//     async run(ctx) { ...; return { metrics: { loss }, outputs: ['model.safetensors'] }; },
//   });
//
// runStage records the stage in the manifest (running, then done with its outputs' digests and
// metrics, or failed with the error) and refuses to start a stage whose requirements are not
// done, naming the command to run first. runAll runs a pipeline's stages in order, skipping the
// done ones whose config and inputs are unchanged and resuming a partly done one.
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { LoadedDataset } from '../data/source.js';
import { silentSink, type ProgressSink } from '../train/progress.js';
import { resolveConfig, stageConfig, type ConfigSchema } from './config.js';
import { loadConfiguredDataset, type CommonConfig, type DatasetLoader } from './data.js';
import { combineDigests, digestInput, digestOutputs, type Digest, type FileDigest } from './digest.js';
import type { CommandContext, Pipeline } from './registry.js';
import { RunFolder, type StageRecord } from './run-folder.js';
import { expectArgs } from '../guard.js';

export interface StageContext<C> {
  readonly pipeline: string;
  readonly stage: string;
  readonly run: RunFolder;
  /** This stage's folder: write outputs here (RunFolder.writeFile/writeJson do it atomically). */
  readonly dir: string;
  /** This stage's checkpoint folder (`<dir>/checkpoints`), for the trainer. */
  readonly checkpoints: string;
  readonly config: C;
  readonly device: string;
  readonly seed: number;
  /** Continue from the checkpoints (false: they were cleared, start afresh). */
  readonly resume: boolean;
  readonly progress: ProgressSink;
  /** The dataset the config names, loaded once per run. */
  dataset(): Promise<LoadedDataset>;
  /** Another stage's folder (a required stage's outputs). */
  stageDir(stage: string): string;
  /** Writes `<dir>/<name>` atomically; returns its path. */
  writeFile(name: string, data: string | Uint8Array): string;
  /** Writes `<dir>/<name>` as JSON, atomically; returns its path. */
  writeJson(name: string, value: unknown): string;
  log(message: string): void;
}

export interface StageOutcome<R = unknown> {
  /** Recorded in the manifest (JSON). */
  metrics?: Record<string, unknown>;
  /** Files (or folders) the stage wrote, relative to its folder: digested into the manifest. */
  outputs?: string[];
  /** Anything else for the caller (not recorded). */
  result?: R;
}

export interface Stage<C, R = unknown> {
  name: string;
  summary: string;
  /** Stages that must be done first, in the same run folder. */
  requires: readonly string[];
  run(ctx: StageContext<C>): Promise<StageOutcome<R>>;
}

export function defineStage<C, R = unknown>(stage: Stage<C, R>): Stage<C, R> {
  expectArgs('defineStage', { stage }, 'object');
  if (!/^[a-z][\w-]*$/.test(stage.name))
    throw new Error(`defineStage: '${stage.name}' is not a valid stage name (lower-case, digits, - and _)`);
  return stage;
}

/** A stage run before the stages it needs: the message says which command to run first. */
export class StageOrderError extends Error {}

export interface RunOptions<C> {
  /** The run folder. */
  dir: string;
  /** The merged config (see resolveConfig). */
  config: C;
  device?: string;
  /** Continue the stage from its checkpoints (runStage only; runAll decides by itself). */
  resume?: boolean;
  progress?: (stage: string) => ProgressSink;
  log?: (message: string) => void;
  loadDataset?: DatasetLoader;
  /** The command that runs `stage` in this run folder, for messages (default `llmrec <pipeline> <stage> --out <dir>`). */
  commandFor?: (stage: string) => string;
}

/** What the runner shares between the stages of one run. */
interface Session<C> {
  pipeline: Pipeline;
  run: RunFolder;
  options: RunOptions<C>;
  dataset: () => Promise<LoadedDataset>;
}

function openSession<C>(pipeline: Pipeline, options: RunOptions<C>): Session<C> {
  const run = RunFolder.open(options.dir, pipeline.name);
  let loaded: Promise<LoadedDataset> | undefined;
  const load = options.loadDataset ?? loadConfiguredDataset;
  return {
    pipeline,
    run,
    options,
    dataset: () => (loaded ??= load(options.config as CommonConfig)),
  };
}

function findStage(pipeline: Pipeline, name: string): Stage<unknown> {
  const stage = pipeline.stages.find((s) => s.name === name);
  if (!stage)
    throw new Error(`${pipeline.name}: no stage '${name}'; stages: ${pipeline.stages.map((s) => s.name).join(', ')}`);
  return stage;
}

/** The digests of what a stage reads: its input keys' files and the outputs of the stages it requires. */
async function stageInputs(
  schema: ConfigSchema,
  config: Record<string, unknown>,
  stage: Stage<unknown>,
  run: RunFolder,
): Promise<Record<string, Digest>> {
  const known: FileDigest[] = Object.values(run.manifest.stages).flatMap((s) =>
    Object.values(s.inputs ?? {}).flatMap((d) => d.files),
  );
  const inputs: Record<string, Digest> = {};
  for (const [key, spec] of Object.entries(schema)) {
    if (spec.type !== 'string' || !spec.input || (spec.stages && !spec.stages.includes(stage.name))) continue;
    const value = config[key] as string | undefined;
    if (spec.input === true && !value) continue;
    const files = spec.input === true ? [value!] : await spec.input(value);
    const digests = [];
    for (const file of files) digests.push(await digestInput(file, known));
    inputs[key] =
      digests.length === 1
        ? digests[0]!
        : { path: value ?? '(default)', sha256: combineDigests(digests), files: digests.flatMap((d) => d.files) };
  }
  for (const need of stage.requires) {
    const outputs = Object.values(run.stage(need)?.outputs ?? {});
    inputs[`stage:${need}`] = { path: need, sha256: combineDigests(outputs), files: [] };
  }
  return inputs;
}

/** JSON with sorted keys, so equal configs compare equal whatever their key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

function sameInputs(a: Record<string, Digest>, b: Record<string, Digest>): boolean {
  const keys = Object.keys(a).sort();
  return canonical(keys) === canonical(Object.keys(b).sort()) && keys.every((k) => a[k]!.sha256 === b[k]!.sha256);
}

function commandFor<C>(session: Session<C>, stage: string): string {
  const { options, pipeline } = session;
  return options.commandFor?.(stage) ?? `llmrec ${pipeline.name} ${stage} --out ${JSON.stringify(options.dir)}`;
}

async function runInSession<C, R>(
  session: Session<C>,
  stage: Stage<C, R>,
  resume: boolean,
  inputs?: Record<string, Digest>,
): Promise<StageOutcome<R>> {
  const { run, pipeline, options } = session;
  for (const need of stage.requires) {
    const status = run.stage(need)?.status;
    if (status !== 'done')
      throw new StageOrderError(
        `stage '${stage.name}' needs stage '${need}' done first, which ${status ? `is ${status}` : 'has not run'} in ${options.dir}; run first:\n  ${commandFor(session, need)}`,
      );
  }
  const config = stageConfig(pipeline.config, options.config as Record<string, unknown>, stage.name);
  const dir = run.stageDir(stage.name);
  const checkpoints = path.join(dir, 'checkpoints');
  // A fresh run must not mix its checkpoints with an earlier run's (the folder is llmrec's own).
  if (!resume && run.stage(stage.name)) fs.rmSync(checkpoints, { recursive: true, force: true });
  const started = new Date();
  const previous = run.stage(stage.name);
  const lastDone = previous?.status === 'done' ? previous : previous?.lastDone;
  const record: StageRecord = {
    status: 'running',
    config,
    inputs: inputs ?? (await stageInputs(pipeline.config, config, stage as Stage<unknown>, run)),
    outputs: {},
    started: started.toISOString(),
    ...(lastDone ? { lastDone: { ...lastDone, lastDone: undefined } } : {}),
  };
  run.setStage(stage.name, record);
  const finish = () => {
    const ended = new Date();
    return { ended: ended.toISOString(), seconds: (ended.getTime() - started.getTime()) / 1000 };
  };
  const log = options.log ?? (() => undefined);
  const ctx: StageContext<C> = {
    pipeline: pipeline.name,
    stage: stage.name,
    run,
    dir,
    checkpoints,
    config: options.config,
    device: options.device ?? 'cpu',
    seed: (options.config as { seed?: number }).seed ?? 0,
    resume,
    progress: options.progress?.(stage.name) ?? silentSink,
    dataset: session.dataset,
    stageDir: (name) => path.join(run.dir, name),
    writeFile: (name, data) => run.writeFile(stage.name, name, data),
    writeJson: (name, value) => run.writeJson(stage.name, name, value),
    log,
  };
  let outcome: StageOutcome<R>;
  let outputs: Record<string, FileDigest>;
  try {
    outcome = await stage.run(ctx);
    outputs = await digestOutputs(dir, outcome.outputs ?? []);
  } catch (error) {
    run.setStage(stage.name, {
      ...record,
      status: 'failed',
      ...finish(),
      error: error instanceof Error ? error.message : String(error),
    });
    throw error;
  }
  run.setStage(stage.name, {
    ...record,
    status: 'done',
    outputs,
    metrics: outcome.metrics,
    ...finish(),
    lastDone: undefined,
  });
  return outcome;
}

/** Runs one stage of `pipeline` in the run folder `options.dir`; see the file comment. */
export async function runStage<C, R = unknown>(
  pipeline: Pipeline,
  stage: string | Stage<C, R>,
  options: RunOptions<C>,
): Promise<StageOutcome<R>> {
  expectArgs('runStage', { pipeline }, 'object');
  expectArgs('runStage', { options }, 'object');
  expectArgs('runStage', { 'options.dir': options.dir }, 'string');
  const chosen = (typeof stage === 'string' ? findStage(pipeline, stage) : stage) as Stage<C, R>;
  const session = openSession(pipeline, options);
  try {
    return await runInSession(session, chosen, options.resume ?? false);
  } finally {
    session.run.close();
  }
}

export interface RunAllResult {
  ran: string[];
  /** Done stages whose config and inputs had not changed. */
  skipped: string[];
  /** The outcome of each stage that ran, by name. */
  outcomes: Record<string, StageOutcome>;
}

/**
 * Runs every stage of `pipeline` in order. A stage already done with the same config and inputs
 * is skipped; one left running or failed with the same config and inputs resumes from its
 * checkpoints; any other runs afresh.
 */
export async function runAll<C>(pipeline: Pipeline, options: RunOptions<C>): Promise<RunAllResult> {
  expectArgs('runAll', { pipeline, options }, 'object');
  expectArgs('runAll', { 'options.dir': options.dir }, 'string');
  const session = openSession(pipeline, options);
  const result: RunAllResult = { ran: [], skipped: [], outcomes: {} };
  const log = options.log ?? (() => undefined);
  try {
    for (const stage of pipeline.stages) {
      const previous = session.run.stage(stage.name);
      const config = stageConfig(pipeline.config, options.config as Record<string, unknown>, stage.name);
      const requirementsDone = stage.requires.every((need) => session.run.stage(need)?.status === 'done');
      const inputs = requirementsDone ? await stageInputs(pipeline.config, config, stage, session.run) : undefined;
      const unchanged =
        previous !== undefined &&
        inputs !== undefined &&
        canonical(previous.config) === canonical(config) &&
        sameInputs(previous.inputs, inputs);
      if (unchanged && previous.status === 'done') {
        log(`${pipeline.name} ${stage.name}: done already with the same config and inputs; skipped`);
        result.skipped.push(stage.name);
        continue;
      }
      if (unchanged) log(`${pipeline.name} ${stage.name}: resuming the ${previous.status} run from its checkpoints`);
      result.outcomes[stage.name] = await runInSession(session, stage as Stage<C>, unchanged, inputs);
      result.ran.push(stage.name);
    }
    return result;
  } finally {
    session.run.close();
  }
}

/**
 * Runs the extra command `name` of `pipeline` (ablation, compare...) with `options.dir` as its
 * folder; `commandOptions` are its own options (as flags: lists may be comma-separated strings).
 */
export async function runCommand<C>(
  pipeline: Pipeline,
  name: string,
  options: RunOptions<C> & { commandOptions?: Record<string, unknown> },
): Promise<void> {
  expectArgs('runCommand', { pipeline }, 'object');
  expectArgs('runCommand', { name }, 'string');
  expectArgs('runCommand', { options }, 'object');
  const command = pipeline.commands?.find((c) => c.name === name);
  if (!command)
    throw new Error(
      `${pipeline.name}: no command '${name}'; commands: ${(pipeline.commands ?? []).map((c) => c.name).join(', ') || 'none'}`,
    );
  const own = resolveConfig(command.options ?? {}, { flags: options.commandOptions ?? {} });
  let loaded: Promise<LoadedDataset> | undefined;
  const load = options.loadDataset ?? loadConfiguredDataset;
  const ctx: CommandContext<C> = {
    pipeline,
    config: options.config,
    dir: options.dir,
    device: options.device ?? 'cpu',
    progress: options.progress ?? (() => silentSink),
    log: options.log ?? (() => undefined),
    dataset: () => (loaded ??= load(options.config as CommonConfig)),
    runAll: (dir, config) => runAll(pipeline, { ...options, dir, config }),
  };
  await (command as unknown as { run(ctx: CommandContext<C>, o: unknown): Promise<void> }).run(ctx, own);
}
