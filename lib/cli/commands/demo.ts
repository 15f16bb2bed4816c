// llmrec demo: what `npm start` runs. It shows the build and the devices, checks the kernels on
// every usable device against a float64 computation, then trains SASRec and GRU4Rec on the
// embedded Online Retail dataset and prints their test metrics beside a popularity baseline.
// Then each pipeline's demo step (a cut-down run on the shipped LM) adds its rows.
import { devices } from '../../device.js';
import { llmSRecDemo } from '../../pipelines/llm-srec/demo.js';
import { tidy } from '../../scope.js';
import { randn, type Tensor } from '../../tensor.js';
import { defineCommand, UsageError } from '../args.js';
import { evaluatePopularity } from '../../models/index.js';
import { flatten, trainAndTest } from '../../pipelines/seqrec/index.js';
import type { DataConfig } from '../../pipelines/data.js';
import type { PipelineDemoRow, PipelineDemoStep } from '../../pipelines/demo.js';
import { llm2recDemo } from '../../pipelines/llm2rec/demo.js';
import { aLLMRecDemo } from '../../pipelines/a-llmrec/demo.js';
import { dataConfigFromFlags, dataOptions, loadCliDataset } from '../data-options.js';
import { formatTable } from './common.js';
import { infoCommand } from './info.js';

/** Each pipeline's part of the demo, in the order they run (`--pipelines` picks among them). */
const pipelineDemos: PipelineDemoStep[] = [llm2recDemo, llmSRecDemo, aLLMRecDemo];

interface KernelCheck {
  name: string;
  run: (x: Tensor, y: Tensor) => Tensor;
  reference: (x: Float64Array, y: Float64Array, shape: readonly number[]) => Float64Array;
}

const rows = 512;
const cols = 1024;

const checks: KernelCheck[] = [
  { name: 'add', run: (x, y) => x.add(y), reference: (x, y) => x.map((v, i) => v + y[i]!) },
  { name: 'mul', run: (x, y) => x.mul(y), reference: (x, y) => x.map((v, i) => v * y[i]!) },
  { name: 'tanh', run: (x) => x.tanh(), reference: (x) => x.map(Math.tanh) },
  {
    name: 'sum over rows',
    run: (x) => x.sum(1),
    reference: (x) =>
      Float64Array.from({ length: rows }, (_, r) => x.subarray(r * cols, (r + 1) * cols).reduce((a, b) => a + b, 0)),
  },
  {
    name: 'mean over columns',
    run: (x) => x.mean(0),
    reference: (x) =>
      Float64Array.from({ length: cols }, (_, c) => {
        let s = 0;
        for (let r = 0; r < rows; r++) s += x[r * cols + c]!;
        return s / rows;
      }),
  },
];

function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    diff += (actual[i]! - expected[i]!) ** 2;
    norm += expected[i]! ** 2;
  }
  return Math.sqrt(diff / Math.max(norm, 1e-30));
}

export const demoCommand = defineCommand({
  name: 'demo',
  summary:
    'Check the kernels on every device, then train and evaluate SASRec and GRU4Rec on the embedded dataset (or --data).',
  options: {
    ...dataOptions,
    device: {
      type: 'string',
      description: "run on this device only ('cpu', 'cuda' or 'cuda:N'); default: a GPU if usable",
    },
    'sasrec-epochs': { type: 'integer', description: 'SASRec training epochs', default: 10 },
    'gru4rec-epochs': { type: 'integer', description: 'GRU4Rec training epochs', default: 4 },
    seed: { type: 'integer', description: 'random seed', default: 0 },
    pipelines: {
      type: 'string',
      description: `pipeline demos to run after SASRec/GRU4Rec, comma-separated (${pipelineDemos.map((d) => d.pipeline).join(', ')}), or 'none'`,
      default: pipelineDemos.map((d) => d.pipeline).join(','),
    },
    'skip-training': { type: 'boolean', description: 'only show the build and check the kernels', default: false },
  },
  async run(options, _positionals, given) {
    const steps = selectPipelineDemos(options.pipelines);
    await infoCommand.run({ json: false }, [], new Set());
    const report = devices();
    const targets = options.device
      ? [options.device]
      : ['cpu', ...report.cuda.devices.filter((d) => d.supported).map((d) => d.id)];
    let failures = 0;
    for (const device of targets) {
      console.log(`\nkernel check on ${device} (${rows}x${cols} f32, seeded inputs, error vs float64):`);
      for (const check of checks) {
        const { error, ms } = tidy(() => {
          const x = randn([rows, cols], { seed: 1, device });
          const y = randn([rows, cols], { seed: 2, device });
          const expected = check.reference(Float64Array.from(x.dataSync()), Float64Array.from(y.dataSync()), x.shape);
          check.run(x, y).dataSync(); // warm-up
          const start = performance.now();
          const out = check.run(x, y);
          const values = out.dataSync();
          return { error: relativeError(values, expected), ms: performance.now() - start };
        });
        const ok = error < 1e-5;
        if (!ok) failures++;
        console.log(
          `  ${check.name.padEnd(18)} ${ok ? 'ok  ' : 'FAIL'} error ${error.toExponential(1)}  ${ms.toFixed(3)} ms`,
        );
      }
    }
    if (failures > 0) throw new Error(`${failures} kernel check(s) failed`);
    if (options['skip-training']) return;
    const data = dataConfigFromFlags(options, given);
    const device = options.device ?? targets[targets.length - 1]!;
    await recommenderDemo(data, device, options['sasrec-epochs'], options['gru4rec-epochs'], options.seed);
    const pipelineRows: PipelineDemoRow[] = [];
    for (const step of steps) {
      console.log(`\n${step.pipeline}: a cut-down run on the shipped LM (see 'llmrec ${step.pipeline} --help')`);
      pipelineRows.push(
        ...(await step.run({ data, seed: options.seed, device, sasrecEpochs: options['sasrec-epochs'] })),
      );
    }
    if (pipelineRows.length > 0)
      console.log(
        `\npipelines (test):\n${formatTable(
          ['model', 'metric', 'value', 'run'],
          pipelineRows.map((r) => [r.model, r.metric, r.value, r.note]),
        )}`,
      );
  },
});

/** The demo steps `--pipelines` names, in their own order; an unknown name is a usage error. */
function selectPipelineDemos(list: string): PipelineDemoStep[] {
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (names.length === 1 && names[0] === 'none') return [];
  const known = new Set(pipelineDemos.map((d) => d.pipeline));
  for (const name of names)
    if (!known.has(name))
      throw new UsageError(`--pipelines: unknown pipeline '${name}'; known: ${[...known].join(', ')} (or 'none')`);
  return pipelineDemos.filter((d) => names.includes(d.pipeline));
}

async function recommenderDemo(
  data: DataConfig,
  device: string,
  sasrecEpochs: number,
  gruEpochs: number,
  seed: number,
): Promise<void> {
  const { dataset } = await loadCliDataset(data);
  const split = dataset.split();
  console.log(
    `
training on ${dataset.name} (${dataset.numUsers} users, ${dataset.numItems} items, ${dataset.numInteractions} interactions; ${split.kind}) on ${device}`,
  );
  const rows: (string | number)[][] = [];
  const shown = ['hr@10', 'ndcg@10'] as const;
  for (const [model, epochs] of [
    ['sasrec', sasrecEpochs],
    ['gru4rec', gruEpochs],
  ] as const) {
    if (epochs < 1) continue;
    const run = await trainAndTest(split, { model, epochs, batchSize: 128, lr: 1e-3, seed, device, evalEvery: epochs });
    rows.push([
      model,
      ...shown.map((m) => run.sampled[m]!),
      run.full['hr@10']!,
      run.full['ndcg@10']!,
      `${epochs} × ${(run.seconds / run.epochs).toFixed(1)} s`,
    ]);
    run.model.dispose();
  }
  const popSampled = flatten(evaluatePopularity(split, 'test', 'sampled'));
  const popFull = flatten(evaluatePopularity(split, 'test', 'full'));
  rows.push(['popularity', ...shown.map((m) => popSampled[m]!), popFull['hr@10']!, popFull['ndcg@10']!, '-']);
  console.log(`
test metrics (${split.evaluationUsers().length} users):`);
  console.log(
    formatTable(
      ['model', 'HR@10 (1+99)', 'NDCG@10 (1+99)', 'Recall@10 (full)', 'NDCG@10 (full)', 'epochs × time'],
      rows,
    ),
  );
}
