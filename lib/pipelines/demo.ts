// A short run of a whole pipeline for `llmrec demo`: every stage in a fresh temporary run folder
// with a few config values cut down, so that each pipeline can show what it does within about
// two minutes of a 2-core CPU. The run folder is this function's own and is removed afterwards.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { defaultSink } from '../train/progress.js';
import { resolveConfig } from './config.js';
import type { CommonConfig, DataConfig, DatasetLoader } from './data.js';
import type { Pipeline } from './registry.js';
import { runAll, type StageOutcome } from './stage.js';

/** What `llmrec demo` gives each pipeline's demo step. */
export interface PipelineDemoContext {
  data: Partial<DataConfig>;
  seed: number;
  device: string;
  /** The downstream or CF epochs the demo's own SASRec trains for, to compare like with like. */
  sasrecEpochs: number;
}

/** One line of the demo's pipeline table: a model, one test metric and what it cost. */
export interface PipelineDemoRow {
  model: string;
  metric: string;
  value: number;
  note: string;
}

/** A pipeline's part of `llmrec demo` (listed in lib/cli/commands/demo.ts). */
export interface PipelineDemoStep {
  pipeline: string;
  run(ctx: PipelineDemoContext): Promise<PipelineDemoRow[]>;
}

export interface PipelineDemoOptions {
  pipeline: Pipeline;
  /** Config values over the pipeline's defaults (the cut-down schedule). */
  values: Record<string, unknown>;
  /** The demo's dataset flags; they override `values`' dataset keys. */
  data?: Partial<DataConfig>;
  seed: number;
  device: string;
  loadDataset?: DatasetLoader;
}

export interface PipelineDemoResult {
  /** Each stage's outcome, by stage name. */
  outcomes: Record<string, StageOutcome>;
  seconds: number;
}

/** Runs every stage of `options.pipeline` once in a temporary run folder and returns the outcomes. */
export async function runPipelineDemo(options: PipelineDemoOptions): Promise<PipelineDemoResult> {
  const { pipeline } = options;
  const data = Object.fromEntries(Object.entries(options.data ?? {}).filter(([, v]) => v !== undefined));
  const config = resolveConfig(pipeline.config, {
    values: { ...options.values, ...data, seed: options.seed },
  }) as CommonConfig;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `llmrec-demo-${pipeline.name}-`));
  const start = performance.now();
  try {
    const { outcomes } = await runAll(pipeline, {
      dir,
      config,
      device: options.device,
      progress: (stage) => defaultSink(`${pipeline.name} ${stage}`),
      log: (message) => console.error(message),
      ...(options.loadDataset ? { loadDataset: options.loadDataset } : {}),
    });
    return { outcomes, seconds: (performance.now() - start) / 1000 };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
