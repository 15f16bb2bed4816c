// A float64 re-implementation of HF's Qwen2/Llama forward over a model's parameters, and the
// small random models the LM tests compare against it.
import {
  CausalLM,
  parseConfig,
  randn,
  ropeInverseFrequencies,
  type CausalLMConfig,
  type Tensor,
} from '../../lib/index.js';
import { f64 } from './reference.js';

// A model small enough for a float64 reference: hidden 16, 2 layers, 4 heads over 2 kv heads.
export function qwenConfig(overrides: Record<string, unknown> = {}): CausalLMConfig {
  return parseConfig({
    model_type: 'qwen2',
    vocab_size: 32,
    hidden_size: 16,
    intermediate_size: 24,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    tie_word_embeddings: true,
    eos_token_id: 31,
    ...overrides,
  });
}

export const llamaConfig = (): CausalLMConfig =>
  qwenConfig({
    model_type: 'llama',
    tie_word_embeddings: false,
    rope_theta: 500000,
    rope_scaling: {
      rope_type: 'llama3',
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 8,
    },
  });

/** Every parameter redrawn with a visible scale (HF's 0.02 init hides most mistakes). */
export function randomModel(config: CausalLMConfig, device: string, seed = 7): CausalLM {
  const model = new CausalLM(config, { device, seed });
  const state = new Map<string, Tensor>();
  model.namedParameters().forEach(([name, p], i) => {
    const isNorm = name.endsWith('norm.weight');
    state.set(name, randn(p.shape, { seed: seed * 100 + i, device, std: isNorm ? 0.2 : 0.35, mean: isNorm ? 1 : 0 }));
  });
  model.loadStateDict(state);
  return model;
}

export type Params = Map<string, Float64Array>;

export function hostParams(model: CausalLM): Params {
  return new Map(model.namedParameters().map(([name, p]) => [name, f64(p)]));
}

export interface RefInput {
  /** [B, L, d] embeddings (row-major). */
  embeds: Float64Array;
  b: number;
  l: number;
  causal: boolean;
  lengths?: number[];
  side?: 'left' | 'right';
}

/** HF's Qwen2/Llama forward in float64: final normed hidden states and logits. */
export function reference(
  config: CausalLMConfig,
  params: Params,
  input: RefInput,
): { hidden: Float64Array; logits: Float64Array } {
  const {
    hiddenSize: d,
    numAttentionHeads: H,
    numKeyValueHeads: KV,
    headDim: D,
    intermediateSize: F,
    vocabSize: V,
  } = config;
  const { b, l } = input;
  const P = (name: string): Float64Array => params.get(name)!;
  const inv = ropeInverseFrequencies(config);
  const side = input.side ?? 'right';
  const valid = (r: number, j: number): boolean => {
    const n = input.lengths?.[r] ?? l;
    return side === 'left' ? j >= l - n : j < n;
  };
  const position = (r: number, j: number): number => {
    const pad = side === 'left' ? l - (input.lengths?.[r] ?? l) : 0;
    return Math.max(j - pad, 0);
  };
  const rms = (x: Float64Array, w: Float64Array): Float64Array => {
    const out = new Float64Array(x.length);
    for (let row = 0; row < x.length / d; row++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += x[row * d + k]! ** 2;
      const r = 1 / Math.sqrt(s / d + config.rmsNormEps);
      for (let k = 0; k < d; k++) out[row * d + k] = x[row * d + k]! * r * w[k]!;
    }
    return out;
  };
  const lin = (x: Float64Array, w: Float64Array, out: number, inp: number, bias?: Float64Array): Float64Array => {
    const rows = x.length / inp;
    const y = new Float64Array(rows * out);
    for (let r = 0; r < rows; r++)
      for (let o = 0; o < out; o++) {
        let s = bias ? bias[o]! : 0;
        for (let k = 0; k < inp; k++) s += x[r * inp + k]! * w[o * inp + k]!;
        y[r * out + o] = s;
      }
    return y;
  };
  const ropeApply = (x: Float64Array, heads: number): void => {
    for (let r = 0; r < b; r++)
      for (let j = 0; j < l; j++) {
        const p = position(r, j);
        for (let h = 0; h < heads; h++) {
          const base = ((r * l + j) * heads + h) * D;
          for (let k = 0; k < D / 2; k++) {
            const [c, s] = [Math.cos(p * inv[k]!), Math.sin(p * inv[k]!)];
            const [x1, x2] = [x[base + k]!, x[base + k + D / 2]!];
            x[base + k] = x1 * c - x2 * s;
            x[base + k + D / 2] = x2 * c + x1 * s;
          }
        }
      }
  };
  let h = Float64Array.from(input.embeds);
  for (let layer = 0; layer < config.numHiddenLayers; layer++) {
    const pre = `model.layers.${layer}.`;
    const x = rms(h, P(pre + 'input_layernorm.weight'));
    const bias = (n: string) => params.get(pre + `self_attn.${n}.bias`);
    const q = lin(x, P(pre + 'self_attn.q_proj.weight'), H * D, d, bias('q_proj'));
    const k = lin(x, P(pre + 'self_attn.k_proj.weight'), KV * D, d, bias('k_proj'));
    const v = lin(x, P(pre + 'self_attn.v_proj.weight'), KV * D, d, bias('v_proj'));
    ropeApply(q, H);
    ropeApply(k, KV);
    const attended = new Float64Array(b * l * H * D);
    for (let r = 0; r < b; r++)
      for (let hh = 0; hh < H; hh++) {
        const g = Math.floor(hh / (H / KV));
        for (let i = 0; i < l; i++) {
          const scores: number[] = [];
          const keys: number[] = [];
          for (let j = 0; j < l; j++) {
            if ((input.causal && j > i) || !valid(r, j)) continue;
            let s = 0;
            for (let t = 0; t < D; t++) s += q[((r * l + i) * H + hh) * D + t]! * k[((r * l + j) * KV + g) * D + t]!;
            scores.push(s / Math.sqrt(D));
            keys.push(j);
          }
          if (keys.length === 0) continue;
          const m = Math.max(...scores);
          const e = scores.map((s) => Math.exp(s - m));
          const z = e.reduce((a, c) => a + c, 0);
          keys.forEach((j, idx) => {
            for (let t = 0; t < D; t++)
              attended[((r * l + i) * H + hh) * D + t]! += (e[idx]! / z) * v[((r * l + j) * KV + g) * D + t]!;
          });
        }
      }
    const o = lin(attended, P(pre + 'self_attn.o_proj.weight'), d, H * D, params.get(pre + 'self_attn.o_proj.bias'));
    h = h.map((val, idx) => val + o[idx]!);
    const x2 = rms(h, P(pre + 'post_attention_layernorm.weight'));
    const gate = lin(x2, P(pre + 'mlp.gate_proj.weight'), F, d);
    const up = lin(x2, P(pre + 'mlp.up_proj.weight'), F, d);
    const act = gate.map((gv, idx) => (gv / (1 + Math.exp(-gv))) * up[idx]!);
    const down = lin(act, P(pre + 'mlp.down_proj.weight'), d, F);
    h = h.map((val, idx) => val + down[idx]!);
  }
  const hidden = rms(h, P('model.norm.weight'));
  const head = params.get('lm_head.weight') ?? P('model.embed_tokens.weight');
  return { hidden, logits: lin(hidden, head, V, d) };
}

export function embedIds(params: Params, config: CausalLMConfig, ids: number[][]): Float64Array {
  const d = config.hiddenSize;
  const table = params.get('model.embed_tokens.weight')!;
  const out = new Float64Array(ids.length * ids[0]!.length * d);
  ids.flat().forEach((id, row) => out.set(table.subarray(id * d, (id + 1) * d), row * d));
  return out;
}
