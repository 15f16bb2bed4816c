// `llmrec llm2rec ablation`: the paper's comparison on one split and one set of seeds. One full
// LLM2Rec run (<out>/llm2rec) provides the models after each stage; every row embeds the items
// with one of them and trains the same downstream models on the result:
//   ID-only SASRec/GRU4Rec (no LM) · causal LM, EOS token · bidirectional mean pool, untrained
//   (LLM2Vec-style) · + CSFT · + MNTP · + SimCSE (full LLM2Rec),
// in-domain and out-of-domain (the embedded 2009–2010 set, or --ood-data), written as JSON,
// Markdown and an SVG bar chart under <out>/ablation.*.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { SequenceDataset } from '../../data/dataset.js';
import { comparisonMarkdown, comparisonRow, writeComparison, type ComparisonRow } from '../../eval/report.js';
import { definePipelineCommand, type CommandContext } from '../registry.js';
import { OOD_EMBEDDED, type LLM2RecConfig } from './config.js';
import {
  checkDownstreamModels,
  downstreamOptions,
  loadOodDataset,
  trainDownstream,
  type DownstreamStageResult,
} from './downstream.js';
import { embedItems, llm2recEmbedding, type ItemTable } from './embed.js';
import { languageModelDir, type Pooling } from './language-model.js';

interface Variant {
  name: string;
  /** The stage whose model embeds ('base': the --lm model untrained); null: ID embeddings. */
  from: 'base' | 'csft' | 'mntp' | 'simcse' | null;
  attention: 'causal' | 'bidirectional';
  pooling: Pooling;
}

export const ablationVariants: Record<string, Variant> = {
  'id-only': { name: 'ID-only', from: null, attention: 'causal', pooling: 'mean' },
  'causal-eos': { name: 'causal LM, EOS token', from: 'base', attention: 'causal', pooling: 'eos' },
  bidirectional: { name: 'bidirectional, mean (untrained)', from: 'base', ...llm2recEmbedding },
  csft: { name: '+ CSFT', from: 'csft', ...llm2recEmbedding },
  mntp: { name: '+ CSFT + MNTP', from: 'mntp', ...llm2recEmbedding },
  llm2rec: { name: '+ CSFT + MNTP + SimCSE (LLM2Rec)', from: 'simcse', ...llm2recEmbedding },
};

const modelNames = { sasrec: 'SASRec', gru4rec: 'GRU4Rec' } as const;

export const ablation = definePipelineCommand({
  name: 'ablation',
  summary:
    "the paper's ablation: ID-only, causal LM (EOS), bidirectional untrained, + CSFT, + MNTP, + SimCSE; SASRec and GRU4Rec, in- and out-of-domain",
  options: {
    variants: {
      type: 'list',
      of: 'string',
      default: Object.keys(ablationVariants),
      help: `rows to run (${Object.keys(ablationVariants).join(', ')})`,
    },
    ood: {
      type: 'bool',
      default: true,
      help: `also out-of-domain: --ood-data, or the embedded ${OOD_EMBEDDED} set when the in-domain data is the embedded one`,
    },
  },
  async run(ctx: CommandContext<LLM2RecConfig>, options) {
    const started = performance.now();
    const c = ctx.config;
    const models = checkDownstreamModels(c.models);
    for (const v of options.variants)
      if (!(v in ablationVariants))
        throw new Error(`llm2rec ablation: --variants takes ${Object.keys(ablationVariants).join(', ')}; got '${v}'`);
    const oodData = options.ood ? c.oodData || (c.data ? undefined : OOD_EMBEDDED) : undefined;
    if (options.ood && !oodData)
      ctx.log(
        'llm2rec ablation: no out-of-domain rows (give --ood-data FILE for a dataset other than the embedded one)',
      );
    fs.mkdirSync(ctx.dir, { recursive: true });
    const runDir = path.join(ctx.dir, 'llm2rec');
    const config: LLM2RecConfig = { ...c, oodData };
    const needsRun = options.variants.some((v) => ablationVariants[v]!.from && ablationVariants[v]!.from !== 'base');
    if (needsRun) {
      ctx.log(`llm2rec ablation: the full LLM2Rec run in ${runDir}`);
      await ctx.runAll(runDir, config);
    }
    const full = needsRun
      ? (JSON.parse(fs.readFileSync(path.join(runDir, 'downstream', 'results.json'), 'utf-8')) as DownstreamStageResult)
      : null;
    const { dataset } = await ctx.dataset();
    const domains: { label: string; dataset: SequenceDataset; fromRun?: DownstreamStageResult['inDomain'] }[] = [
      { label: 'in-domain', dataset, fromRun: full?.inDomain },
    ];
    if (oodData) {
      const { dataset: ood } = await loadOodDataset(config);
      domains.push({ label: `out-of-domain (${ood.name})`, dataset: ood, fromRun: full?.ood?.results });
    }
    const rows: ComparisonRow[] = [];
    for (const key of options.variants) {
      const variant = ablationVariants[key]!;
      for (const domain of domains) {
        const lmDir =
          variant.from === 'base' ? languageModelDir(c.lm) : variant.from && path.join(runDir, variant.from);
        // The full run already trained the LLM2Rec row, with these models and seeds.
        const done = (model: string) =>
          variant.from === 'simcse' ? domain.fromRun?.find((r) => r.model === model) : undefined;
        let table: ItemTable | null = null;
        if (lmDir && models.some((m) => !done(m))) {
          ctx.log(`llm2rec ablation: embedding ${domain.dataset.name} for '${variant.name}'`);
          table = embedItems(lmDir, domain.dataset, {
            attention: variant.attention,
            pooling: variant.pooling,
            maxTokens: c.titleTokens,
            batch: c.embedBatch,
            device: ctx.device,
          });
        }
        for (const model of models) {
          const group = `${modelNames[model]}, ${domain.label}`;
          const result =
            done(model) ??
            (ctx.log(`llm2rec ablation: ${group}: ${variant.name}`),
            await trainDownstream(domain.dataset.split(), table, {
              ...downstreamOptions(c, model, ctx.device),
              progress: ctx.progress(`ablation ${key} ${model}`),
            }));
          rows.push(
            comparisonRow(
              variant.name,
              result.runs.map((r) => r.test),
              group,
            ),
          );
        }
      }
    }
    rows.sort((a, b) => (a.group! < b.group! ? -1 : a.group! > b.group! ? 1 : 0));
    const seconds = (performance.now() - started) / 1000;
    const comparison = {
      title: `LLM2Rec ablation on ${dataset.name} (full ranking, test)`,
      rows,
      metrics: ['recall@10', 'ndcg@10', 'recall@20', 'ndcg@20'],
      notes: {
        lm: languageModelDir(c.lm),
        seeds: `${c.seeds} (${c.seed}..${c.seed + c.seeds - 1})`,
        steps: `CSFT ${c.csftSteps} × ${c.csftBatch}, MNTP ${c.mntpSteps} × ${c.mntpBatch}, SimCSE ${c.simcseSteps} × ${c.simcseBatch}`,
        machine: `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} threads, device ${ctx.device}`,
        seconds: Math.round(seconds),
      },
    };
    const files = writeComparison(path.join(ctx.dir, 'ablation'), comparison);
    console.log(comparisonMarkdown(comparison));
    ctx.log(`llm2rec ablation: wrote ${files.json}, ${files.markdown}, ${files.svg}`);
  },
});
