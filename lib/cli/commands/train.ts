// llmrec train <model>: the seqrec pipeline's `train` stage (lib/pipelines/seqrec/) with the
// model as a positional argument. This file parses the flags and prints the results.
import fs from 'node:fs';
import path from 'node:path';

import { formatMeanStd, writeJsonFile, writeTrainingCurves } from '../../eval/report.js';
import { modelNames } from '../../models/registry.js';
import { schemaOptions } from '../../pipelines/config.js';
import { runStage } from '../../pipelines/stage.js';
import { seqrecConfig, seqrecPipeline, trainStage, type SeedRun } from '../../pipelines/seqrec/index.js';
import { defaultSink } from '../../train/progress.js';
import { defineCommand, UsageError } from '../args.js';
import { configFromFlags, runOptions, runOptionsFromFlags } from '../pipeline.js';
import { formatTable } from './common.js';

const reported = ['hr@10', 'ndcg@10', 'hr@20', 'ndcg@20'] as const;

const { model: _model, ...configFlags } = schemaOptions(seqrecConfig);

export const trainCommand = defineCommand({
  name: 'train',
  summary: `Train ${modelNames().join(' or ')} and report test metrics (default: the embedded dataset).`,
  positionals: `<${modelNames().join('|')}>`,
  options: {
    ...configFlags,
    ...runOptions,
    out: { type: 'string', description: 'the run folder (default runs/<model>)' },
    json: { type: 'string', description: 'also write the results to this JSON file' },
    curves: { type: 'string', description: 'also plot the training loss and validation NDCG@10 to this SVG file' },
    results: {
      type: 'string',
      description:
        'append one JSON line per seed in the schema of bench/torch/seqrec_common.py (side-by-side with PyTorch)',
    },
  },
  async run(options, positionals, given) {
    const [kind, ...extra] = positionals;
    if (!kind || !modelNames().includes(kind))
      throw new UsageError(`train needs a model: ${modelNames().join(' or ')}, got '${kind ?? ''}'`);
    if (extra.length > 0) throw new UsageError(`train takes one model; unexpected: ${extra.join(' ')}`);
    const config = configFromFlags(seqrecConfig, options, given, { model: kind });
    const out = options.out ?? path.join('runs', kind);
    const rerun = () => `llmrec train ${kind} --out ${out}`;
    const run = {
      ...runOptionsFromFlags(seqrecPipeline, config, options, rerun, out),
      progress: () => defaultSink(kind),
    };
    const { result } = await runStage(seqrecPipeline, trainStage, run);
    const { runs, sampled, full, popularity, negatives } = result!;
    console.log(
      formatTable(
        ['model', ...reported.map((m) => `${m} (1+${negatives})`), 'recall@10 (full)', 'ndcg@10 (full)', 'epoch s'],
        [
          [
            kind,
            ...reported.map((m) => formatMeanStd(sampled[m]!)),
            formatMeanStd(full['hr@10']!),
            formatMeanStd(full['ndcg@10']!),
            (runs[0]!.seconds / runs[0]!.epochs).toFixed(2),
          ],
          [
            'popularity',
            ...reported.map((m) => popularity.sampled[m]!),
            popularity.full['hr@10']!,
            popularity.full['ndcg@10']!,
            '-',
          ],
        ],
      ),
    );
    console.error(
      `saved ${kind} to ${out} (load it with Recommender.load('${out}') or \`llmrec recommend --model ${out}\`)`,
    );
    if (options.json) writeJsonFile(options.json, result);
    if (options.curves) {
      const history = runs[0]!.history;
      writeTrainingCurves(
        options.curves,
        [
          { name: 'training loss', points: history.map((h) => [h.epoch + 1, h.loss] as const) },
          {
            name: `validation NDCG@10 (1+${negatives})`,
            points: history.flatMap((h) => (h.metrics ? [[h.epoch + 1, h.metrics['ndcg@10']!] as const] : [])),
          },
        ],
        { title: `${kind} on ${result!.dataset}`, xLabel: 'epoch' },
      );
      console.error(`wrote ${options.curves}`);
    }
    if (options.results) for (const seedRun of runs) appendResultLine(options.results, kind, seedRun, run.device!);
  },
});

/** One line in the schema bench/torch/seqrec_common.py summarises, so both sides print together. */
function appendResultLine(file: string, kind: string, run: SeedRun, device: string): void {
  const stage = (sampled: Record<string, number>, full: Record<string, number>) => ({
    'hr@10': sampled['hr@10'],
    'ndcg@10': sampled['ndcg@10'],
    'recall@10_full': full['hr@10'],
    'ndcg@10_full': full['ndcg@10'],
  });
  const line = {
    model: kind,
    impl: 'llmrec',
    seed: run.seed,
    epochs: run.epochs,
    epoch_seconds: run.seconds / run.epochs,
    seqs_per_second: run.sequencesPerSecond,
    train_seconds: run.seconds,
    device,
    valid: stage(run.valid.sampled, run.valid.full),
    test: stage(run.sampled, run.full),
  };
  fs.appendFileSync(file, `${JSON.stringify(line)}\n`);
}
