// LLM2Rec's LM stages: one CSFT step and one SimCSE step (forward, backward, AdamW) at the CPU
// defaults' shapes, and the embedding of 1,024 titles (bidirectional, mean pooling), on a random
// model of the 'tiny' and 'small' presets. tokens/s = notes.tokens / medianMs · 1000. The same
// shapes as `python3 bench/torch/llm2rec.py --bench --preset <preset>`.
import { noGrad } from '../lib/autograd.js';
import { CausalLM } from '../lib/llm/model.js';
import { presetConfig, type PresetName } from '../lib/llm/presets.js';
import { AdamW } from '../lib/optim/adam.js';
import { IGNORE, labelledLoss, poolRows, simcseLoss } from '../lib/pipelines/llm2rec/index.js';
import { tidy } from '../lib/scope.js';
import type { Benchmark } from './harness.js';

const rowsOf = (rows: number, length: number, vocab: number): number[][] =>
  Array.from({ length: rows }, (_, r) => Array.from({ length }, (_, j) => (r * 131 + j * 7919 + 13) % vocab));

function stepBenchmark(preset: PresetName, stage: 'csft' | 'simcse'): Benchmark {
  const [rows, length] = stage === 'csft' ? [16, 100] : [64, 10];
  return {
    name: `llm2rec/${preset}/${stage}-step/B${rows}xL${length}`,
    devices: ['cpu', 'cuda'],
    setup(device) {
      const config = presetConfig(preset);
      const model = new CausalLM(config, { device, seed: 1 });
      const optimizer = new AdamW(model.parameters(), { lr: 1e-5, weightDecay: 0 });
      const ids = rowsOf(rows, length, config.vocabSize);
      const examples = ids.map((r) => ({ ids: r, labels: r.map((v, j) => (j < length - 10 ? IGNORE : v)) }));
      const keys = ids.map((_, i) => i);
      return {
        run() {
          optimizer.zeroGrad();
          tidy(() => {
            const loss =
              stage === 'csft'
                ? labelledLoss(model, examples, 0, 'causal')
                : simcseLoss(model, ids, keys, { tau: 0.1, padId: 0 });
            loss.backward();
          });
          optimizer.step();
        },
        notes: () => ({ tokens: rows * length * (stage === 'simcse' ? 2 : 1) }),
        dispose() {
          optimizer.dispose();
          model.dispose();
        },
      };
    },
  };
}

function embedBenchmark(preset: PresetName): Benchmark {
  return {
    name: `llm2rec/${preset}/embed/1024x10`,
    devices: ['cpu', 'cuda'],
    setup(device) {
      const config = presetConfig(preset);
      const model = new CausalLM(config, { device, seed: 1 }).eval();
      const titles = rowsOf(1024, 10, config.vocabSize);
      return {
        run() {
          noGrad(() => {
            for (let i = 0; i < titles.length; i += 64)
              tidy(() => {
                poolRows(model, titles.slice(i, i + 64), { attention: 'bidirectional', pooling: 'mean', padId: 0 });
              });
          });
        },
        notes: () => ({ items: 1024 }),
        dispose() {
          model.dispose();
        },
      };
    },
  };
}

export const benchmarks: Benchmark[] = (['tiny', 'small'] as const).flatMap((preset) => [
  stepBenchmark(preset, 'csft'),
  stepBenchmark(preset, 'simcse'),
  embedBenchmark(preset),
]);
