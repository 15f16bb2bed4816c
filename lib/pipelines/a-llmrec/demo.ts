// The A-LLMRec step of `llmrec demo` (`npm start`): a small run of every stage on the demo's
// dataset and the shipped LM in a temporary run folder (removed afterwards), then Hit@1 among 20
// candidates for SASRec, the titles-only LM and A-LLMRec, one answer in full, and one user's
// taste in words. CPU-sized: about two minutes on two quiet cores.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { defaultLanguageModelDir } from '../../llm/default-model.js';
import { resolveConfig } from '../config.js';
import { dataConfig, loadConfiguredDataset, type DataConfig } from '../data.js';
import { runAll } from '../stage.js';
import { aLLMRecConfig, type ALLMRecConfig } from './config.js';
import { describeUser } from './describe.js';
import type { EvalResult } from './evaluate.js';
import { loadStageTwo } from './generate.js';
import { aLLMRecPipeline } from './index.js';

/** The demo's schedule: a few SASRec epochs, 2 alignment epochs, 64 stage-2 users, 50 test users. */
export const demoSchedule = {
  cfEpochs: 4,
  alignEpochs: 2,
  trainUsers: 64,
  generateEpochs: 1,
  evalUsers: 50,
  maxNewTokens: 24,
} as const satisfies Partial<ALLMRecConfig>;

export interface ALLMRecDemoOptions {
  data: DataConfig;
  device: string;
  seed: number;
  /** Where the lines go (default console.log). */
  print?: (line: string) => void;
  /** Overrides of the schedule (tests). */
  schedule?: Partial<ALLMRecConfig>;
}

/** Runs the A-LLMRec demo step; returns its evaluation (null when there is no shipped LM to run it on). */
export async function aLLMRecDemo(options: ALLMRecDemoOptions): Promise<EvalResult | null> {
  const print = options.print ?? ((line: string) => console.log(line));
  try {
    defaultLanguageModelDir();
  } catch (error) {
    print(`\nA-LLMRec: skipped (${(error as Error).message})`);
    return null;
  }
  const data = Object.fromEntries(
    Object.keys(dataConfig)
      .map((key) => [key, options.data[key as keyof DataConfig]])
      .filter(([, v]) => v !== undefined),
  );
  const config = resolveConfig(aLLMRecConfig, {
    values: { ...data, ...demoSchedule, ...options.schedule, seed: options.seed },
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmrec-demo-a-llmrec-'));
  print(
    `\nA-LLMRec on the shipped LM (${config.cfEpochs} SASRec epochs, ${config.alignEpochs} alignment epochs, ${config.trainUsers} stage-2 users, ${config.evalUsers} test users):`,
  );
  try {
    const started = performance.now();
    const result = await runAll(aLLMRecPipeline, {
      dir,
      config,
      device: options.device,
      log: () => undefined,
    });
    const evaluation = result.outcomes.eval!.result as EvalResult;
    const all = evaluation.groups.all!;
    const pct = (v: number | null) => (v === null ? '-' : v.toFixed(3));
    print(`  Hit@1 among ${evaluation.candidates} candidates, ${all.users} test users:`);
    print(`    SASRec                  ${pct(all.hit.sasrec)}`);
    print(`    LM, titles only         ${pct(all.hit.titlesOnly)}`);
    print(`    A-LLMRec (free text)    ${pct(all.hit.aLLMRec)}`);
    print(`    A-LLMRec (constrained)  ${pct(all.hit.aLLMRecConstrained)}`);
    const sample = evaluation.samples[0];
    if (sample) {
      print(`  user ${sample.user}, next item "${sample.target}":`);
      print(`    A-LLMRec wrote: ${JSON.stringify(sample.text)}; constrained: "${sample.constrained}"`);
    }
    const models = await loadStageTwo(
      config,
      (stage) => path.join(dir, stage),
      options.device,
      path.join(dir, 'generate'),
    );
    try {
      const { dataset } = await loadConfiguredDataset(config);
      const user = dataset.userKeys.indexOf(sample?.user ?? dataset.userKeys[1]!);
      const described = describeUser(models, dataset.sequence(user), {
        historyItems: 0,
        maxNewTokens: 16,
        repetitionPenalty: config.repetitionPenalty,
      });
      print(`  describe (the user's soft token only): ${JSON.stringify(described.text)}`);
    } finally {
      models.dispose();
    }
    print(
      `  (${((performance.now() - started) / 1000).toFixed(0)} s; the full run: llmrec a-llmrec all, llmrec a-llmrec compare)`,
    );
    return evaluation;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
