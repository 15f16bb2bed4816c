// The LLM-SRec step of `llmrec demo` (`npm start`): a short run of every stage (cf → distill →
// eval) on the demo's dataset and the shipped LM in a temporary run folder (removed afterwards),
// the 1+99 NDCG@10 and HR@10 of LLM-SRec beside its SASRec on the same test users and
// candidates, and one recommendation served from the run folder by Recommender. CPU-sized:
// about two minutes on two quiet cores.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { defaultLanguageModelDir } from '../../llm/default-model.js';
import { Recommender } from '../../serve/recommender.js';
import { resolveConfig } from '../config.js';
import { dataConfig, loadConfiguredDataset, type DataConfig } from '../data.js';
import { runAll } from '../stage.js';
import { llmSRecConfig, type LLMSRecConfig } from './config.js';
import { historyOf } from './data.js';
import { evaluationUsers } from './evaluate.js';
import { llmSRecPipeline } from './index.js';
import type { EvalStageResult } from './stages.js';

/** The demo's schedule: a few SASRec epochs, 5 distillation steps of 20 users, 200 test users. */
export const demoSchedule = {
  cfEpochs: 4,
  trainUsers: 100,
  validationsPerEpoch: 1,
  validUsers: 20,
  evalUsers: 200,
} as const satisfies Partial<LLMSRecConfig>;

export interface LLMSRecDemoOptions {
  data: DataConfig;
  device: string;
  seed: number;
  /** Where the lines go (default console.log). */
  print?: (line: string) => void;
  /** Overrides of the schedule or the LM (tests). */
  schedule?: Partial<LLMSRecConfig>;
}

/** Runs the LLM-SRec demo step; returns its evaluation (null when there is no shipped LM to run it on). */
export async function llmSRecDemo(options: LLMSRecDemoOptions): Promise<EvalStageResult | null> {
  const print = options.print ?? ((line: string) => console.log(line));
  if (!options.schedule?.lm)
    try {
      defaultLanguageModelDir();
    } catch (error) {
      print(`\nLLM-SRec: skipped (${(error as Error).message})`);
      return null;
    }
  const data = Object.fromEntries(
    Object.keys(dataConfig)
      .map((key) => [key, options.data[key as keyof DataConfig]])
      .filter(([, v]) => v !== undefined),
  );
  const config = resolveConfig(llmSRecConfig, {
    values: { ...data, ...demoSchedule, ...options.schedule, seed: options.seed },
  });
  const steps = Math.floor(config.trainUsers / config.batchSize) * config.epochs;
  print(
    `\nLLM-SRec on ${config.lm ? config.lm : 'the shipped LM'} (${config.cfEpochs} SASRec epochs, ${steps} distillation steps of ${config.batchSize} users, ${config.evalUsers} test users, 1+99 candidates):`,
  );
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmrec-demo-llm-srec-'));
  try {
    const started = performance.now();
    await runAll(llmSRecPipeline, { dir, config, device: options.device, log: () => undefined });
    const result = JSON.parse(fs.readFileSync(path.join(dir, 'eval', 'results.json'), 'utf-8')) as EvalStageResult;
    const row = (name: string, m: Record<string, number>) =>
      print(`    ${name.padEnd(10)} ${m['ndcg@10']!.toFixed(3)}     ${m['hr@10']!.toFixed(3)}`);
    print(`  ${result.users} test users:  NDCG@10   HR@10`);
    row('SASRec', result.sasrec);
    row('LLM-SRec', result.test);
    // One user's recommendation through the serving path (the eval stage's cached item table).
    const { dataset } = await loadConfiguredDataset(config);
    const split = dataset.split();
    const user = evaluationUsers(split, 'test')[0]!;
    const history = historyOf(split, user, 'test');
    const rec = await Recommender.load(dir, { device: options.device });
    try {
      const top = await rec.recommend(
        Array.from(history.items, (i) => dataset.itemKeys[i]!),
        history.times ? { k: 3, times: Array.from(history.times) } : { k: 3 },
      );
      const last = Array.from(history.items, (i) => i)
        .slice(-2)
        .map((i) => `"${dataset.titles[i] || dataset.itemKeys[i]}"`);
      print(`  user ${dataset.userKeys[user]} (last bought ${last.join(', ')}); served top 3:`);
      for (const r of top) print(`    ${r.score.toFixed(3)}  "${r.title || r.item}"`);
    } finally {
      await rec.close();
    }
    print(
      `  (${((performance.now() - started) / 1000).toFixed(0)} s; the full runs: llmrec llm-srec all, llmrec llm-srec ablation)`,
    );
    return result;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
