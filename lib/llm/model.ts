// The Qwen2/Llama causal LM (HF's Qwen2ForCausalLM / LlamaForCausalLM) as a Module whose
// parameter names are exactly Hugging Face's, so stateDict() and a HF safetensors file map 1:1.
//
// embed_tokens → N × [RMSNorm → attention (q/k/v/o, RoPE, GQA) + residual → RMSNorm → SwiGLU
// MLP + residual] → norm → lm_head (or the tied embedding table).
import { isGradEnabled, noGrad, record, setGradEnabled } from '../autograd.js';
import * as init from '../nn/init.js';
import { Embedding, RMSNorm } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { scaledDotProductAttention, rope, type KeyPadding } from '../ops/attention.js';
import { embedding } from '../ops/embedding.js';
import { concat, narrow, permute } from '../ops/layout.js';
import { gemm, linear } from '../ops/linalg.js';
import { linearCrossEntropy } from '../ops/loss.js';
import { addRmsNorm } from '../ops/norm.js';
import { tidy } from '../scope.js';
import { empty, generator, keep, tensor, Tensor, zeros } from '../tensor.js';
import { checkConfig, ropeInverseFrequencies, type CausalLMConfig } from './config.js';
import { expectArgs, expectFields } from '../guard.js';

export interface CausalLMOptions {
  device?: string;
  dtype?: 'f32' | 'bf16';
  /** 'normal': N(0, initializer_range) weights as HF's _init_weights; 'empty': uninitialised, to be loaded. */
  initialize?: 'normal' | 'empty';
  /** Seed of the 'normal' initialisation (default: the global generator). */
  seed?: number;
}

type ParamFactory = (shape: number[], kind: 'weight' | 'bias') => Tensor;

function parameterFactory(config: CausalLMConfig, options: CausalLMOptions): ParamFactory {
  const dtype = options.dtype ?? 'f32';
  const device = options.device;
  let stream = 0;
  return (shape, kind) => {
    if (options.initialize === 'empty') return empty(shape, { device, dtype });
    if (kind === 'bias') return init.zerosInit(shape, { device, dtype });
    const seed = options.seed === undefined ? undefined : options.seed * 1000 + stream++;
    return init.normal(shape, 0, config.initializerRange, { device, dtype, seed });
  };
}

/**
 * y = x·Wᵀ (+ b) with weight [out, in]: HF's nn.Linear. Not nn.Linear: that one draws torch's
 * U(±1/sqrt(in)), while a checkpoint-shaped LM needs HF's N(0, initializer_range), or nothing at
 * all when the weights are about to be loaded.
 */
export class Projection extends Module {
  declare readonly weight: Tensor;
  declare readonly bias: Tensor | null;
  constructor(inFeatures: number, outFeatures: number, bias: boolean, make: ParamFactory) {
    super();
    expectArgs('new Projection', { inFeatures, outFeatures }, 'integer');
    expectArgs('new Projection', { bias }, 'boolean');
    expectArgs('new Projection', { make }, 'function');
    this.registerParameter('weight', make([outFeatures, inFeatures], 'weight'));
    this.registerParameter('bias', bias ? make([outFeatures], 'bias') : null);
  }
  forward(x: Tensor, activation: 'none' | 'silu' = 'none'): Tensor {
    return linear(x, this.weight, this.bias ?? undefined, activation);
  }
}

/** A list of modules named 0, 1, … in the state dict, as torch.nn.ModuleList. */
export class ModuleList<M extends Module> extends Module {
  constructor(readonly items: readonly M[]) {
    super();
  }
  override namedChildren(): [string, Module][] {
    return this.items.map((m, i) => [String(i), m]);
  }
  override namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    this.items.forEach((m, i) => out.push(...m.namedModules(prefix ? `${prefix}.${i}` : String(i))));
    return out;
  }
}

/** Attention dropout of one forward: a Philox seed and one counter offset per layer. */
export interface AttentionDropoutPlan {
  p: number;
  seed: bigint;
  offsets: bigint[];
}

/**
 * Per-forward facts every layer shares: the positions (HF's cumsum(mask) - 1 under left padding),
 * the key padding, the rotary tables and the dropout counters. Host values are the source of
 * truth, so activation checkpointing can rebuild the device tensors in backward without
 * capturing any, and replays the same dropout masks.
 */
export class ForwardContext {
  readonly positions: Int32Array;
  readonly keyPadding: { lengths: Int32Array; side: 'left' | 'right' } | undefined;
  #positionsTensor: Tensor | null = null;
  #ropeTables: { cos: Tensor; sin: Tensor } | null = null;

  constructor(
    readonly config: CausalLMConfig,
    readonly device: string,
    readonly batch: number,
    readonly queryLength: number,
    /** Keys per row: the cached ones plus this call's. */
    readonly keyLength: number,
    readonly causal: boolean,
    validLengths: Int32Array | null,
    readonly side: 'left' | 'right',
    readonly dropout: AttentionDropoutPlan | null = null,
  ) {
    // The loops below run batch × queryLength times: a bad size must fail, not spin or wrap.
    const counts = { batch, queryLength, keyLength };
    for (const [name, value] of Object.entries(counts))
      if (!Number.isSafeInteger(value) || value < 0 || value > 2 ** 31 - 1)
        throw new Error(`ForwardContext: '${name}' must be a non-negative integer below 2^31, got ${String(value)}`);
    if (keyLength < queryLength)
      throw new Error(`ForwardContext: 'keyLength' (${keyLength}) must be at least 'queryLength' (${queryLength})`);
    if (batch * queryLength > 2 ** 31 - 1)
      throw new Error(`ForwardContext: batch × queryLength = ${batch * queryLength} positions is too many`);
    if (validLengths !== null && (!(validLengths instanceof Int32Array) || validLengths.length !== batch))
      throw new Error(`ForwardContext: 'validLengths' must be an Int32Array of ${batch} lengths or null`);
    if (side !== 'left' && side !== 'right')
      throw new Error(`ForwardContext: 'side' must be 'left' or 'right', got ${String(side)}`);
    const past = keyLength - queryLength;
    this.positions = new Int32Array(batch * queryLength);
    for (let b = 0; b < batch; b++) {
      const pad = validLengths && side === 'left' ? keyLength - validLengths[b]! : 0;
      for (let j = 0; j < queryLength; j++) {
        const p = past + j - pad;
        // HF puts padded slots at position 1; their outputs are never read.
        this.positions[b * queryLength + j] = p < 0 ? 1 : p;
      }
    }
    const padded = validLengths !== null && validLengths.some((n) => n < keyLength);
    this.keyPadding = padded ? { lengths: validLengths, side } : undefined;
  }

  /** The attention dropout of layer `index` (none in eval mode). */
  dropoutFor(index: number): { p: number; seed: bigint; offset: bigint } | undefined {
    return this.dropout
      ? { p: this.dropout.p, seed: this.dropout.seed, offset: this.dropout.offsets[index]! }
      : undefined;
  }

  get positionsTensor(): Tensor {
    this.#positionsTensor ??= keep(
      tensor(this.positions, { shape: [this.batch, this.queryLength], dtype: 'i32', device: this.device }),
    );
    return this.#positionsTensor;
  }

  /** Rotates q or k [B, H, L, D]: the native kernel for plain RoPE, cos/sin tables for scaled frequencies. */
  rotate(x: Tensor): Tensor {
    if (!this.config.ropeScaling) return rope(x, this.positionsTensor, this.config.ropeTheta);
    const { cos, sin } = this.#tables(x.dtype === 'bf16' ? 'bf16' : 'f32');
    const d = x.shape[3]!;
    const half = d / 2;
    const rotated = concat([narrow(x, 3, half, half).neg(), narrow(x, 3, 0, half)], 3);
    return x.mul(cos).add(rotated.mul(sin));
  }

  #tables(dtype: 'f32' | 'bf16'): { cos: Tensor; sin: Tensor } {
    if (!this.#ropeTables) {
      const inv = ropeInverseFrequencies(this.config);
      const d = this.config.headDim;
      const half = d / 2;
      const cos = new Float32Array(this.positions.length * d);
      const sin = new Float32Array(this.positions.length * d);
      this.positions.forEach((p, row) => {
        for (let k = 0; k < d; k++) {
          // HF computes the angle in f32: position · inv_freq, both rounded to f32 first.
          const angle = Math.fround(p * Math.fround(inv[k % half]!));
          cos[row * d + k] = Math.cos(angle);
          sin[row * d + k] = Math.sin(angle);
        }
      });
      const shape = [this.batch, 1, this.queryLength, d];
      this.#ropeTables = {
        cos: keep(tensor(cos, { shape, device: this.device, dtype })),
        sin: keep(tensor(sin, { shape, device: this.device, dtype })),
      };
    }
    return this.#ropeTables;
  }

  dispose(): void {
    this.#positionsTensor?.dispose();
    this.#ropeTables?.cos.dispose();
    this.#ropeTables?.sin.dispose();
  }
}

/** Per-layer keys and values (after RoPE), [B, Hkv, T, D], grown by concatenation each step. */
export class KVCache {
  readonly layers: ({ key: Tensor; value: Tensor } | undefined)[] = [];

  /** Keys cached per row (padding included). */
  get length(): number {
    return this.layers[0]?.key.shape[2] ?? 0;
  }

  /** Appends this step's keys and values to layer `index` and returns the full ones. */
  append(index: number, key: Tensor, value: Tensor): { key: Tensor; value: Tensor } {
    const past = this.layers[index];
    const full = past ? { key: concat([past.key, key], 2), value: concat([past.value, value], 2) } : { key, value };
    if (past) {
      past.key.dispose();
      past.value.dispose();
    }
    this.layers[index] = { key: full.key.share(), value: full.value.share() };
    keep(this.layers[index]!.key);
    keep(this.layers[index]!.value);
    return full;
  }

  /** Keeps the rows `rows` (with repeats) of every layer: beam search's reordering. */
  selectRows(rows: Int32Array): void {
    noGrad(() => {
      const index = keep(tensor(rows, { dtype: 'i32', device: this.layers[0]?.key.device }));
      for (let i = 0; i < this.layers.length; i++) {
        const entry = this.layers[i];
        if (!entry) continue;
        const pick = (t: Tensor): Tensor => {
          const [n, ...rest] = t.shape;
          const flat = t.reshape(n!, -1);
          const gathered = embedding(index, flat);
          const out = keep(gathered.reshape(rows.length, ...rest));
          gathered.dispose();
          flat.dispose();
          t.dispose();
          return out;
        };
        this.layers[i] = { key: pick(entry.key), value: pick(entry.value) };
      }
      index.dispose();
    });
  }

  dispose(): void {
    for (const entry of this.layers) {
      entry?.key.dispose();
      entry?.value.dispose();
    }
    this.layers.length = 0;
  }
}

export class Attention extends Module {
  declare readonly q_proj: Projection;
  declare readonly k_proj: Projection;
  declare readonly v_proj: Projection;
  declare readonly o_proj: Projection;
  constructor(
    readonly config: CausalLMConfig,
    make: ParamFactory,
  ) {
    super();
    expectArgs('new Attention', { config }, 'object');
    expectArgs('new Attention', { make }, 'function');
    const { hiddenSize: d, numAttentionHeads: h, numKeyValueHeads: kv, headDim: dh } = config;
    this.registerModule('q_proj', new Projection(d, h * dh, config.attentionBias, make));
    this.registerModule('k_proj', new Projection(d, kv * dh, config.attentionBias, make));
    this.registerModule('v_proj', new Projection(d, kv * dh, config.attentionBias, make));
    this.registerModule('o_proj', new Projection(h * dh, d, config.outputBias, make));
  }

  #splitHeads(x: Tensor, heads: number): Tensor {
    const [b, l] = [x.shape[0]!, x.shape[1]!];
    return permute(x.reshape(b, l, heads, this.config.headDim), [0, 2, 1, 3]);
  }

  forward(x: Tensor, ctx: ForwardContext, layer: number, cache?: KVCache): Tensor {
    const { numAttentionHeads: h, numKeyValueHeads: kv, headDim: dh } = this.config;
    const [b, l] = [x.shape[0]!, x.shape[1]!];
    const q = ctx.rotate(this.#splitHeads(this.q_proj.forward(x), h));
    let k = ctx.rotate(this.#splitHeads(this.k_proj.forward(x), kv));
    let v = this.#splitHeads(this.v_proj.forward(x), kv);
    if (cache) ({ key: k, value: v } = cache.append(layer, k, v));
    const attended = scaledDotProductAttention(q, k, v, {
      causal: ctx.causal,
      keyPadding: ctx.keyPadding as KeyPadding | undefined,
      dropout: ctx.dropoutFor(layer),
    });
    return this.o_proj.forward(permute(attended, [0, 2, 1, 3]).reshape(b, l, h * dh));
  }
}

export class SwiGLU extends Module {
  declare readonly gate_proj: Projection;
  declare readonly up_proj: Projection;
  declare readonly down_proj: Projection;
  constructor(config: CausalLMConfig, make: ParamFactory) {
    super();
    expectArgs('new SwiGLU', { config }, 'object');
    expectArgs('new SwiGLU', { make }, 'function');
    const { hiddenSize: d, intermediateSize: f, mlpBias } = config;
    this.registerModule('gate_proj', new Projection(d, f, mlpBias, make));
    this.registerModule('up_proj', new Projection(d, f, mlpBias, make));
    this.registerModule('down_proj', new Projection(f, d, mlpBias, make));
  }
  forward(x: Tensor): Tensor {
    return this.down_proj.forward(this.gate_proj.forward(x, 'silu').mul(this.up_proj.forward(x)));
  }
}

export class DecoderLayer extends Module {
  declare readonly self_attn: Attention;
  declare readonly mlp: SwiGLU;
  declare readonly input_layernorm: RMSNorm;
  declare readonly post_attention_layernorm: RMSNorm;
  constructor(
    readonly config: CausalLMConfig,
    /** Its place in the stack: the KV cache slot and the dropout counters. */
    readonly index: number,
    make: ParamFactory,
  ) {
    super();
    expectArgs('new DecoderLayer', { config }, 'object');
    expectArgs('new DecoderLayer', { index }, 'integer');
    expectArgs('new DecoderLayer', { make }, 'function');
    this.registerModule('self_attn', new Attention(config, make));
    this.registerModule('mlp', new SwiGLU(config, make));
    // RMSNorm makes its own f32 ones on the default device; CausalLM moves everything at the end.
    this.registerModule('input_layernorm', new RMSNorm(config.hiddenSize, config.rmsNormEps));
    this.registerModule('post_attention_layernorm', new RMSNorm(config.hiddenSize, config.rmsNormEps));
  }

  forward(hidden: Tensor, ctx: ForwardContext, cache?: KVCache): Tensor {
    const attended = this.self_attn.forward(this.input_layernorm.forward(hidden), ctx, this.index, cache);
    const { out, sum } = addRmsNorm(attended, hidden, this.post_attention_layernorm.weight, this.config.rmsNormEps);
    return sum.add(this.mlp.forward(out));
  }
}

/**
 * Runs `layer` without keeping its activations, and again with gradients during backward: one
 * autograd node whose saved state is the layer's input. Parameter gradients accumulate during
 * the recomputation's own backward.
 */
function checkpointedLayer(layer: DecoderLayer, hidden: Tensor, ctx: ForwardContext): Tensor {
  const out = noGrad(() => layer.forward(hidden, ctx));
  const params = layer.parameters();
  const { config, device, batch, queryLength, keyLength, causal, side, dropout } = ctx;
  const lengths = ctx.keyPadding?.lengths ?? null;
  record(
    'checkpointedDecoderLayer',
    [hidden, ...params],
    [out],
    ([g], [input]) => {
      const x = input!.detach().requiresGrad_(true);
      const replay = new ForwardContext(config, device, batch, queryLength, keyLength, causal, lengths, side, dropout);
      const previous = setGradEnabled(true);
      try {
        const y = layer.forward(x, replay);
        setGradEnabled(false);
        y.backward(g!);
      } finally {
        setGradEnabled(previous);
        replay.dispose();
      }
      return [x.grad, ...params.map(() => null)];
    },
    [hidden],
  );
  return out;
}

export class DecoderStack extends Module {
  declare readonly embed_tokens: Embedding;
  declare readonly layers: ModuleList<DecoderLayer>;
  declare readonly norm: RMSNorm;
  constructor(config: CausalLMConfig, make: ParamFactory) {
    super();
    expectArgs('new DecoderStack', { config }, 'object');
    expectArgs('new DecoderStack', { make }, 'function');
    this.registerModule(
      'embed_tokens',
      new Embedding(config.vocabSize, config.hiddenSize, {
        weight: make([config.vocabSize, config.hiddenSize], 'weight'),
      }),
    );
    const layers = Array.from({ length: config.numHiddenLayers }, (_, i) => new DecoderLayer(config, i, make));
    this.registerModule('layers', new ModuleList(layers));
    this.registerModule('norm', new RMSNorm(config.hiddenSize, config.rmsNormEps));
  }
}

/** Soft embeddings written over token rows: values[i] goes to (batch[i], position[i]). */
export interface SoftEmbeddings {
  batch: readonly number[] | Int32Array;
  position: readonly number[] | Int32Array;
  /** [K, hidden]; cast to the model's dtype. Gradients flow to it. */
  values: Tensor;
}

export type IdsLike = Tensor | Int32Array | readonly (readonly number[])[];

export interface ForwardOptions {
  /** Token ids [B, L] (i32); a flat Int32Array needs `shape`. */
  inputIds?: IdsLike;
  /** [B, L] when inputIds is a flat Int32Array. */
  shape?: readonly [number, number];
  /** Instead of inputIds: the input embeddings [B, L, hidden]. */
  inputsEmbeds?: Tensor;
  /** 'causal' (default) or 'bidirectional' (LLM2Rec's encoder). */
  attention?: 'causal' | 'bidirectional';
  /** Real tokens per row, counting cached ones and any prefix; the rest is padding. */
  lengths?: readonly number[] | Int32Array;
  /** A 0/1 attention mask [B, L] (flat or nested), HF style; turned into lengths (padding must be contiguous). */
  attentionMask?: Int32Array | readonly (readonly number[])[];
  /** Where padding sits (default 'right'; generation uses 'left'). */
  paddingSide?: 'left' | 'right';
  /** Rows replacing token embeddings at given slots (LLM-SRec's [HistoryEmb]). */
  softEmbeddings?: SoftEmbeddings;
  /** [B, P, hidden] placed before the tokens (A-LLMRec's user token); not with left padding. */
  prefixEmbeddings?: Tensor;
  /** Return HF's hidden_states: the input of every layer, then the final normed output (N + 1 tensors). */
  outputHiddenStates?: boolean;
  /** Which logits to compute: every position, the last real one per row, or none (default 'all'; 'none' when labels are given). */
  logits?: 'all' | 'last' | 'none';
  /** LM labels [B, L] (-100 ignored, padding ignored automatically); shifted inside as HF does. */
  labels?: IdsLike;
  /** Reused and extended in place (generation). */
  cache?: KVCache;
}

export interface ForwardOutput {
  /** [B, L, V] or [B, V] (f32). */
  logits?: Tensor;
  /** Mean token cross-entropy over the non-ignored shifted labels. */
  loss?: Tensor;
  /** After the final norm, [B, L, hidden]. */
  lastHiddenState: Tensor;
  hiddenStates?: Tensor[];
}

function idsToHost(
  ids: IdsLike,
  what: string,
  shape?: readonly [number, number],
): { data: Int32Array; b: number; l: number } {
  if (ids instanceof Tensor) {
    if (ids.ndim !== 2 || ids.dtype !== 'i32')
      throw new Error(
        `CausalLM.forward: '${what}' must be an i32 [B, L] tensor, got ${ids.dtype} [${ids.shape.join(', ')}]`,
      );
    return { data: ids.dataSync() as Int32Array, b: ids.shape[0]!, l: ids.shape[1]! };
  }
  if (ids instanceof Int32Array) {
    if (!shape || shape[0] * shape[1] !== ids.length)
      throw new Error(`CausalLM.forward: a flat '${what}' of ${ids.length} ids needs a matching 'shape' [B, L]`);
    return { data: ids, b: shape[0], l: shape[1] };
  }
  const b = ids.length;
  const l = ids[0]?.length ?? 0;
  if (b === 0 || l === 0 || ids.some((row) => row.length !== l))
    throw new Error(`CausalLM.forward: '${what}' must be a non-empty rectangular [B, L] array`);
  return { data: Int32Array.from(ids.flat()), b, l };
}

function maskToLengths(
  mask: Int32Array | readonly (readonly number[])[],
  b: number,
  l: number,
  side: 'left' | 'right',
): Int32Array {
  const flat = mask instanceof Int32Array ? mask : Int32Array.from(mask.flat());
  if (flat.length !== b * l)
    throw new Error(`CausalLM.forward: 'attentionMask' has ${flat.length} entries but the input is [${b}, ${l}]`);
  const lengths = new Int32Array(b);
  for (let r = 0; r < b; r++) {
    const row = flat.subarray(r * l, (r + 1) * l);
    const n = row.reduce((s, v) => s + (v ? 1 : 0), 0);
    const contiguous = side === 'left' ? row.subarray(l - n).every(Boolean) : row.subarray(0, n).every(Boolean);
    if (!contiguous)
      throw new Error(
        `CausalLM.forward: 'attentionMask' row ${r} is not ${side}-padded (real tokens must be contiguous)`,
      );
    lengths[r] = n;
  }
  return lengths;
}

/** Qwen2ForCausalLM / LlamaForCausalLM. */
export class CausalLM extends Module {
  declare readonly model: DecoderStack;
  declare readonly lm_head: Projection | undefined;
  /** Recompute each layer in backward instead of keeping its activations. */
  gradientCheckpointing = false;
  readonly device: string;
  readonly dtype: 'f32' | 'bf16';

  constructor(
    readonly config: CausalLMConfig,
    options: CausalLMOptions = {},
  ) {
    super();
    checkConfig('new CausalLM', config);
    expectArgs('new CausalLM', { options }, 'options');
    this.dtype = options.dtype ?? 'f32';
    const make = parameterFactory(config, options);
    this.registerModule('model', new DecoderStack(config, make));
    if (!config.tieWordEmbeddings)
      this.registerModule('lm_head', new Projection(config.hiddenSize, config.vocabSize, false, make));
    this.device = this.model.embed_tokens.weight.device;
    this.to(this.device, this.dtype);
  }

  /** The output projection [V, hidden]: lm_head's weight or, tied, the token table. */
  get outputWeight(): Tensor {
    return this.lm_head?.weight ?? this.model.embed_tokens.weight;
  }

  /** Token embeddings [B, L, hidden] of i32 ids [B, L]. */
  embedTokens(ids: Tensor): Tensor {
    return this.model.embed_tokens.forward(ids);
  }

  forward(options: ForwardOptions): ForwardOutput {
    // The layers' intermediates (projections, views, attention outputs) are released when the
    // forward returns, not left to the garbage collector: a leaked forward held ~40 MB per call
    // of the small preset until a GC, and fresh pages made it 30x slower on the CPU. What
    // backward() needs is reached through the outputs' graph and survives (see tidy()); the KV
    // cache and the RoPE tables are kept explicitly.
    return tidy(() => this.#forward(options));
  }

  #forward(options: ForwardOptions): ForwardOutput {
    const side = options.paddingSide ?? 'right';
    const hidden0 = this.#inputEmbeddings(options);
    const [b, l] = [hidden0.shape[0]!, hidden0.shape[1]!];
    const past = options.cache?.length ?? 0;
    let lengths: Int32Array | null = null;
    if (options.attentionMask) lengths = maskToLengths(options.attentionMask, b, l, side);
    if (options.lengths) {
      lengths = Int32Array.from(options.lengths);
      if (lengths.length !== b || lengths.some((n) => n < 1 || n > past + l))
        throw new Error(
          `CausalLM.forward: 'lengths' [${[...lengths].join(', ')}] must hold ${b} values in [1, ${past + l}]`,
        );
    }
    if (options.prefixEmbeddings && side === 'left' && lengths?.some((n) => n < l))
      throw new Error(
        'CausalLM.forward: prefixEmbeddings cannot precede left padding; put the soft token in a slot with softEmbeddings',
      );
    const causal = (options.attention ?? 'causal') === 'causal';
    const ctx = new ForwardContext(
      this.config,
      this.device,
      b,
      l,
      past + l,
      causal,
      lengths,
      side,
      this.#dropoutPlan(b, l, past + l),
    );
    const hiddenStates: Tensor[] = [];
    let h = hidden0;
    const checkpoint = this.gradientCheckpointing && isGradEnabled() && !options.cache;
    for (const layer of this.model.layers.items) {
      if (options.outputHiddenStates) hiddenStates.push(h);
      h = checkpoint ? checkpointedLayer(layer, h, ctx) : layer.forward(h, ctx, options.cache);
    }
    const last = this.model.norm.forward(h);
    if (options.outputHiddenStates) hiddenStates.push(last);
    ctx.dispose();
    const out: ForwardOutput = { lastHiddenState: last };
    if (options.outputHiddenStates) out.hiddenStates = hiddenStates;
    if (options.labels !== undefined) out.loss = this.#loss(last, options.labels, lengths, side, options.shape);
    const mode = options.logits ?? (options.labels !== undefined ? 'none' : 'all');
    if (mode === 'all') out.logits = this.logitsOf(last);
    else if (mode === 'last') out.logits = this.logitsOf(this.#lastRows(last, lengths, side, past));
    return out;
  }

  /** Reserves each layer's dropout counters up front, so a checkpointed replay reuses them. */
  #dropoutPlan(batch: number, queries: number, keys: number): AttentionDropoutPlan | null {
    const p = this.config.attentionDropout;
    if (!this.training || p === 0) return null;
    // One Philox counter covers four probabilities, as scaledDotProductAttention reserves them.
    const counters = (BigInt(batch * this.config.numAttentionHeads * queries) * BigInt(keys) + 3n) / 4n;
    return { p, seed: generator.seed, offsets: this.model.layers.items.map(() => generator.next(counters)) };
  }

  /** f32 logits of hidden states [..., hidden] against the output projection. */
  logitsOf(hidden: Tensor): Tensor {
    const lead = hidden.shape.slice(0, -1);
    const rows = hidden.reshape(-1, this.config.hiddenSize);
    return gemm(rows, this.outputWeight, { transB: true, outDtype: 'f32' }).reshape(...lead, this.config.vocabSize);
  }

  #lastRows(hidden: Tensor, lengths: Int32Array | null, side: 'left' | 'right', past: number): Tensor {
    const [b, l] = [hidden.shape[0]!, hidden.shape[1]!];
    const index = new Int32Array(b);
    for (let r = 0; r < b; r++) {
      const lastReal = lengths && side === 'right' ? lengths[r]! - 1 - past : l - 1;
      index[r] = r * l + Math.max(0, Math.min(l - 1, lastReal));
    }
    return gatherRows(hidden, index);
  }

  #inputEmbeddings(options: ForwardOptions): Tensor {
    let h: Tensor;
    if (options.inputsEmbeds) {
      if (options.inputIds !== undefined) throw new Error('CausalLM.forward: pass inputIds or inputsEmbeds, not both');
      const e = options.inputsEmbeds;
      if (e.ndim !== 3 || e.shape[2] !== this.config.hiddenSize)
        throw new Error(
          `CausalLM.forward: 'inputsEmbeds' must be [B, L, ${this.config.hiddenSize}], got [${e.shape.join(', ')}]`,
        );
      h = e.dtype === this.dtype ? e : e.cast(this.dtype);
    } else if (options.inputIds !== undefined) {
      const { data, b, l } = idsToHost(options.inputIds, 'inputIds', options.shape);
      const ids =
        options.inputIds instanceof Tensor
          ? options.inputIds
          : tensor(data, { shape: [b, l], dtype: 'i32', device: this.device });
      h = this.embedTokens(ids);
    } else {
      throw new Error('CausalLM.forward: needs inputIds or inputsEmbeds');
    }
    if (options.softEmbeddings) h = injectRows(h, options.softEmbeddings, this.dtype);
    if (options.prefixEmbeddings) {
      const p = options.prefixEmbeddings;
      if (p.ndim !== 3 || p.shape[0] !== h.shape[0] || p.shape[2] !== this.config.hiddenSize)
        throw new Error(
          `CausalLM.forward: 'prefixEmbeddings' must be [${h.shape[0]}, P, ${this.config.hiddenSize}], got [${p.shape.join(', ')}]`,
        );
      h = concat([p.dtype === this.dtype ? p : p.cast(this.dtype), h], 1);
    }
    return h;
  }

  #loss(
    hidden: Tensor,
    labelsLike: IdsLike,
    lengths: Int32Array | null,
    side: 'left' | 'right',
    shape?: readonly [number, number],
  ): Tensor {
    const [b, l] = [hidden.shape[0]!, hidden.shape[1]!];
    const { data, b: lb, l: ll } = idsToHost(labelsLike, 'labels', shape ?? [b, l]);
    if (lb !== b || ll !== l)
      throw new Error(`CausalLM.forward: 'labels' [${lb}, ${ll}] must match the sequence [${b}, ${l}]`);
    if (l < 2) throw new Error('CausalLM.forward: the LM loss needs sequences of at least 2 positions');
    // Position j predicts token j + 1; padded targets are ignored.
    const shifted = new Int32Array(b * (l - 1));
    for (let r = 0; r < b; r++)
      for (let j = 0; j + 1 < l; j++) {
        const t = j + 1;
        const real = !lengths || (side === 'left' ? t >= l - lengths[r]! : t < lengths[r]!);
        shifted[r * (l - 1) + j] = real ? data[r * l + t]! : -100;
      }
    const rows = narrow(hidden, 1, 0, l - 1).reshape(b * (l - 1), this.config.hiddenSize);
    const labels = tensor(shifted, { dtype: 'i32', device: this.device });
    return linearCrossEntropy(rows, this.outputWeight, labels, { ignoreIndex: -100 });
  }
}

/** Rows `index` (into the flattened leading axes) of hidden [..., d], differentiably: [K, d]. */
export function gatherRows(hidden: Tensor, index: Int32Array): Tensor {
  expectArgs('gatherRows', { hidden }, Tensor);
  expectArgs('gatherRows', { index }, Int32Array);
  const d = hidden.shape[hidden.ndim - 1]!;
  const flat = hidden.reshape(-1, d);
  const rows = flat.shape[0]!;
  for (const i of index)
    if (i < 0 || i >= rows)
      throw new Error(`gatherRows: row ${i} is outside [0, ${rows}) of [${hidden.shape.join(', ')}]`);
  return embedding(tensor(index, { dtype: 'i32', device: hidden.device }), flat);
}

/** h [B, L, d] with values[k] written at (batch[k], position[k]); gradients reach both h and values. */
export function injectRows(h: Tensor, soft: SoftEmbeddings, dtype: 'f32' | 'bf16'): Tensor {
  expectArgs('injectRows', { h }, Tensor);
  expectArgs('injectRows', { soft }, 'object');
  expectArgs('injectRows', { dtype }, 'string');
  const [b, l, d] = [h.shape[0]!, h.shape[1]!, h.shape[2]!];
  const k = soft.values.shape[0]!;
  if (soft.values.ndim !== 2 || soft.values.shape[1] !== d || soft.batch.length !== k || soft.position.length !== k)
    throw new Error(
      `CausalLM.forward: softEmbeddings.values must be [K, ${d}] with K = batch.length = position.length, got values [${soft.values.shape.join(', ')}], ${soft.batch.length} batch and ${soft.position.length} position entries`,
    );
  const slots = Array.from({ length: k }, (_, i) => {
    const [row, pos] = [soft.batch[i]!, soft.position[i]!];
    if (!(row >= 0 && row < b && pos >= 0 && pos < l))
      throw new Error(`CausalLM.forward: soft embedding ${i} targets (${row}, ${pos}), outside the input [${b}, ${l}]`);
    return { flat: row * l + pos, source: i };
  }).sort((x, y) => x.flat - y.flat);
  for (let i = 1; i < slots.length; i++)
    if (slots[i]!.flat === slots[i - 1]!.flat)
      throw new Error(`CausalLM.forward: two soft embeddings target the same slot (row-major index ${slots[i]!.flat})`);
  const values = soft.values.dtype === dtype ? soft.values : soft.values.cast(dtype);
  // h·keep + gather: row 0 of the gathered table is padding (zeros, no gradient) and row k + 1 is
  // values[k], so every slot takes its value and the rest keep h, in O(B·L·d) for any K, where
  // narrow/concat pieces would each carry a full-size gradient back.
  const source = new Int32Array(b * l);
  const keepMask = new Float32Array(b * l).fill(1);
  for (const { flat: at, source: k } of slots) {
    source[at] = k + 1;
    keepMask[at] = 0;
  }
  const table = concat([zeros([1, d], { device: h.device, dtype }), values], 0);
  const scattered = embedding(tensor(source, { dtype: 'i32', device: h.device }), table, { paddingIdx: 0 });
  const kept = h.mul(tensor(keepMask, { shape: [b, l, 1], device: h.device, dtype }));
  return kept.add(scattered.reshape(b, l, d));
}

export type Pooling =
  | { mode: 'mean'; lengths?: readonly number[] | Int32Array; paddingSide?: 'left' | 'right' }
  | { mode: 'last'; lengths?: readonly number[] | Int32Array; paddingSide?: 'left' | 'right' }
  | {
      mode: 'eos';
      inputIds: IdsLike;
      eosTokenId: number;
      shape?: readonly [number, number];
      /** Only real tokens are searched (padding often reuses the EOS id). */
      lengths?: readonly number[] | Int32Array;
      paddingSide?: 'left' | 'right';
    }
  | { mode: 'positions'; positions: readonly number[] | Int32Array };

/**
 * One vector per row of hidden [B, L, d]: the mean over real tokens, the last real token, the
 * last occurrence of the EOS token, or given positions (one per row). Differentiable.
 */
export function poolHidden(hidden: Tensor, pooling: Pooling): Tensor {
  expectArgs('poolHidden', { hidden }, Tensor);
  expectFields('poolHidden', 'pooling', pooling, { mode: 'string' });
  if (hidden.ndim !== 3) throw new Error(`poolHidden: 'hidden' must be [B, L, d], got [${hidden.shape.join(', ')}]`);
  const [b, l] = [hidden.shape[0]!, hidden.shape[1]!];
  const realRange = (lengths: readonly number[] | Int32Array | undefined, side: 'left' | 'right', r: number) => {
    const n = lengths ? lengths[r]! : l;
    if (!(n >= 1 && n <= l)) throw new Error(`poolHidden: lengths[${r}] = ${n} is outside [1, ${l}]`);
    return side === 'left' ? [l - n, l] : [0, n];
  };
  switch (pooling.mode) {
    case 'mean': {
      const weights = new Float32Array(b * l);
      for (let r = 0; r < b; r++) {
        const [start, end] = realRange(pooling.lengths, pooling.paddingSide ?? 'right', r);
        for (let j = start!; j < end!; j++) weights[r * l + j] = 1 / (end! - start!);
      }
      const w = tensor(weights, {
        shape: [b, l, 1],
        device: hidden.device,
        dtype: hidden.dtype === 'bf16' ? 'bf16' : 'f32',
      });
      return hidden.mul(w).sum(1);
    }
    case 'last': {
      const index = new Int32Array(b);
      for (let r = 0; r < b; r++)
        index[r] = r * l + realRange(pooling.lengths, pooling.paddingSide ?? 'right', r)[1]! - 1;
      return gatherRows(hidden, index);
    }
    case 'eos': {
      const { data } = idsToHost(pooling.inputIds, 'inputIds', pooling.shape ?? [b, l]);
      const index = new Int32Array(b);
      for (let r = 0; r < b; r++) {
        const [start, end] = realRange(pooling.lengths, pooling.paddingSide ?? 'right', r);
        const at = data.subarray(r * l + start!, r * l + end!).lastIndexOf(pooling.eosTokenId) + (start ?? 0);
        if (at < start!) throw new Error(`poolHidden: row ${r} has no EOS token ${pooling.eosTokenId}`);
        index[r] = r * l + at;
      }
      return gatherRows(hidden, index);
    }
    case 'positions': {
      if (pooling.positions.length !== b)
        throw new Error(`poolHidden: 'positions' needs one position per row (${b}), got ${pooling.positions.length}`);
      return gatherRows(
        hidden,
        Int32Array.from(pooling.positions, (p, r) => {
          if (!(p >= 0 && p < l)) throw new Error(`poolHidden: position ${p} of row ${r} is outside [0, ${l})`);
          return r * l + p;
        }),
      );
    }
  }
}
