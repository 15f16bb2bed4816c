// The causal LM end to end: forward (inference, no graph) and forward+backward of the LM loss
// (full fine-tuning) on the tiny preset everywhere, and on the Qwen2-0.5B shape (random bf16
// weights) on CUDA only. tokens/s = notes.tokens / medianMs · 1000. Same shapes as
// bench/torch/llm_reference.py.
import {
  CausalLM,
  generate,
  noGrad,
  presetConfig,
  type CausalLMConfig,
  type PresetName,
  type Tensor,
} from '../lib/index.js';
import type { Benchmark } from './harness.js';

/** Multiply-adds × 2 of one forward: the projections, the causal attention and the LM head. */
function forwardFlops(c: CausalLMConfig, batch: number, length: number, withHead: boolean): number {
  const q = c.numAttentionHeads * c.headDim;
  const kv = c.numKeyValueHeads * c.headDim;
  const perToken = 2 * (c.hiddenSize * (2 * q + 2 * kv) + 3 * c.hiddenSize * c.intermediateSize);
  const attention = 4 * c.numAttentionHeads * c.headDim * ((length * (length + 1)) / 2);
  const head = withHead ? 2 * c.hiddenSize * c.vocabSize : 0;
  return batch * (c.numHiddenLayers * (length * perToken + attention) + length * head);
}

interface LmCase {
  preset: PresetName;
  dtype: 'f32' | 'bf16';
  batch: number;
  length: number;
  devices: ('cpu' | 'cuda')[];
}

const cases: LmCase[] = [
  { preset: 'tiny', dtype: 'f32', batch: 8, length: 128, devices: ['cpu', 'cuda'] },
  { preset: 'small', dtype: 'f32', batch: 4, length: 128, devices: ['cpu', 'cuda'] },
  { preset: 'qwen2-0.5b', dtype: 'bf16', batch: 4, length: 512, devices: ['cuda'] },
];

function ids(config: CausalLMConfig, batch: number, length: number): Int32Array {
  return Int32Array.from({ length: batch * length }, (_, i) => (i * 7919 + 13) % config.vocabSize);
}

const decodeCases: { preset: PresetName; batch: number; prompt: number; newTokens: number }[] = [
  { preset: 'tiny', batch: 4, prompt: 32, newTokens: 32 },
];

/** KV-cache greedy decoding (A-LLMRec's inference): prefill, then one token per row per step. */
const decodeBenchmarks: Benchmark[] = decodeCases.map(({ preset, batch, prompt, newTokens }) => {
  const config = presetConfig(preset);
  return {
    name: `llm/${preset}/f32/generate/B${batch}xP${prompt}+N${newTokens}`,
    devices: ['cpu', 'cuda'],
    setup(device) {
      const model = new CausalLM(config, { device, seed: 1 }).eval();
      const prompts = Array.from({ length: batch }, (_, r) =>
        Array.from({ length: prompt }, (_, j) => (r * 131 + j * 7919 + 13) % config.vocabSize),
      );
      return {
        run() {
          generate(model, prompts, { maxNewTokens: newTokens, eosTokenIds: [] });
        },
        flops: forwardFlops(config, batch, prompt + newTokens, true),
        bytes: model.numParameters() * 4 * newTokens,
        notes: () => ({ tokens: batch * newTokens }),
        dispose() {
          model.dispose();
        },
      };
    },
  };
});

export const benchmarks: Benchmark[] = cases
  .flatMap(({ preset, dtype, batch, length, devices }): Benchmark[] => {
    const config = presetConfig(preset);
    const shape = [batch, length] as const;
    const weightBytes = (model: CausalLM): number => model.numParameters() * (dtype === 'bf16' ? 2 : 4);
    const label = `llm/${preset}/${dtype}/B${batch}xL${length}`;
    return [
      {
        name: `${label}/forward`,
        devices,
        setup(device) {
          const model = new CausalLM(config, { device, dtype, seed: 1 }).eval();
          const input = ids(config, batch, length);
          let last: Tensor | undefined;
          return {
            run() {
              last?.dispose();
              // Hidden states only: the logits of every position are what generation never needs.
              last = noGrad(() => model.forward({ inputIds: input, shape, logits: 'none' }).lastHiddenState);
            },
            flops: forwardFlops(config, batch, length, false),
            bytes: weightBytes(model),
            notes: () => ({ tokens: batch * length }),
            dispose() {
              last?.dispose();
              model.dispose();
            },
          };
        },
      },
      {
        name: `${label}/forward+backward`,
        devices,
        setup(device) {
          const model = new CausalLM(config, { device, dtype, seed: 1 });
          const input = ids(config, batch, length);
          return {
            run() {
              model.zeroGrad();
              const { loss, lastHiddenState } = model.forward({ inputIds: input, shape, labels: input });
              loss!.backward();
              loss!.dispose();
              lastHiddenState.dispose();
            },
            flops: 3 * forwardFlops(config, batch, length, true),
            bytes: 3 * weightBytes(model),
            notes: () => ({ tokens: batch * length }),
            dispose() {
              model.zeroGrad();
              model.dispose();
            },
          };
        },
      },
    ];
  })
  .concat(decodeBenchmarks);
