// `llmrec llm-srec ablation`: the paper's ablation (SASRec alone; without distillation and
// uniformity; without uniformity; full) and its sequence test (the same models on histories
// shuffled at test time, and a full model trained on shuffled histories), on one shared SASRec.
// Output: <out>/ablation.{json,md,svg}, each variant's run folder beside them.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { comparisonRow, writeComparison, type ComparisonRow } from '../../eval/report.js';
import { definePipelineCommand, type CommandContext } from '../registry.js';
import { runStage } from '../stage.js';
import type { LLMSRecConfig } from './config.js';
import { releaseCachedMemory } from './runtime.js';
import type { EvalStageResult } from './stages.js';

/** The variants: which loss terms train, and whether training histories are shuffled. */
export const ABLATION_VARIANTS = {
  'retrieval-only': {
    label: 'LLM (no distillation, no uniformity)',
    distillation: false,
    uniformity: false,
    shuffleTrain: false,
  },
  'no-uniformity': { label: 'LLM-SRec without uniformity', distillation: true, uniformity: false, shuffleTrain: false },
  full: { label: 'LLM-SRec', distillation: true, uniformity: true, shuffleTrain: false },
  'shuffled-train': {
    label: 'LLM-SRec trained on shuffled histories',
    distillation: true,
    uniformity: true,
    shuffleTrain: true,
  },
} as const;

export type AblationVariant = keyof typeof ABLATION_VARIANTS;

const IN_ORDER = 'test histories in order';
const SHUFFLED = 'test histories shuffled';

export const ablationCommand = definePipelineCommand({
  name: 'ablation',
  summary: "the paper's ablation and sequence (shuffle) tables on one shared SASRec",
  options: {
    variants: {
      type: 'list',
      of: 'string',
      default: Object.keys(ABLATION_VARIANTS),
      help: `variants to train: ${Object.keys(ABLATION_VARIANTS).join(', ')}`,
    },
  },
  async run(ctx: CommandContext<LLMSRecConfig>, options) {
    const unknown = options.variants.filter((v) => !(v in ABLATION_VARIANTS));
    if (unknown.length > 0)
      throw new Error(
        `ablation: unknown variant(s) ${unknown.join(', ')}; known: ${Object.keys(ABLATION_VARIANTS).join(', ')}`,
      );
    const started = Date.now();
    // One SASRec for every variant: --cf's, or one trained here once.
    let cf = ctx.config.cf;
    if (!cf) {
      cf = path.join(ctx.dir, 'sasrec');
      ctx.log(`ablation: training the shared SASRec in ${cf}`);
      await runStage(ctx.pipeline, 'cf', {
        dir: cf,
        config: ctx.config,
        device: ctx.device,
        progress: ctx.progress,
        log: ctx.log,
      });
      releaseCachedMemory(ctx.device);
    }
    const results = new Map<AblationVariant, EvalStageResult>();
    for (const name of options.variants as AblationVariant[]) {
      const variant = ABLATION_VARIANTS[name];
      ctx.log(`ablation: ${name} (${variant.label})`);
      const dir = path.join(ctx.dir, name);
      await ctx.runAll(dir, {
        ...ctx.config,
        cf,
        distillation: variant.distillation,
        uniformity: variant.uniformity,
        shuffleTrain: variant.shuffleTrain,
        shuffleTest: true,
      });
      releaseCachedMemory(ctx.device);
      results.set(
        name,
        JSON.parse(fs.readFileSync(path.join(dir, 'eval', 'results.json'), 'utf-8')) as EvalStageResult,
      );
    }
    const first = results.values().next().value as EvalStageResult | undefined;
    if (!first) throw new Error('ablation: no variant ran');
    const rows: ComparisonRow[] = [comparisonRow('SASRec', [first.sasrec], IN_ORDER)];
    for (const [name, r] of results) rows.push(comparisonRow(ABLATION_VARIANTS[name].label, [r.test], IN_ORDER));
    rows.push(comparisonRow('SASRec', [first.sasrecShuffled!], SHUFFLED));
    for (const [name, r] of results) rows.push(comparisonRow(ABLATION_VARIANTS[name].label, [r.shuffled!], SHUFFLED));
    const drop = (before: Record<string, number>, after: Record<string, number>) =>
      `${(100 * (1 - after['ndcg@10']! / before['ndcg@10']!)).toFixed(1)}%`;
    const notes: Record<string, string | number> = {
      command: `llmrec llm-srec ablation --out ${ctx.dir}`,
      dataset: (await ctx.dataset()).dataset.name,
      'test users (1+99)': first.users,
      'NDCG@10 lost under test-time shuffling, SASRec': drop(first.sasrec, first.sasrecShuffled!),
      seconds: Math.round((Date.now() - started) / 1000),
    };
    for (const [name, r] of results)
      notes[`NDCG@10 lost under test-time shuffling, ${ABLATION_VARIANTS[name].label}`] = drop(r.test, r.shuffled!);
    const written = writeComparison(path.join(ctx.dir, 'ablation'), {
      title: 'LLM-SRec ablation and sequence test (1+99)',
      rows,
      metrics: ['ndcg@10', 'hr@10', 'ndcg@20', 'hr@20'],
      notes,
    });
    ctx.log(`ablation: wrote ${written.markdown}, ${written.json} and ${written.svg}`);
  },
});
