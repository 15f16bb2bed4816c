// The standard layers, each a thin Module over the fused kernels: one autograd node per fused op.
import { dropout as dropoutOp, gelu, geluTanh, leakyRelu, relu, silu } from '../ops/activation.js';
import { activationName, type ActivationName } from '../ops/activation-name.js';
import { scaledDotProductAttention, type KeyPadding } from '../ops/attention.js';
import { embedding as embeddingOp } from '../ops/embedding.js';
import { concat, narrow, permute, stack } from '../ops/layout.js';
import { linear, type Activation as EpilogueActivation } from '../ops/linalg.js';
import { layerNorm, rmsNorm } from '../ops/norm.js';
import type { Tensor } from '../tensor.js';
import * as init from './init.js';
import { Module } from './module.js';
import { expectArgs } from '../guard.js';

export interface LayerOptions {
  device?: string;
  dtype?: 'f32' | 'bf16';
}

export type { ActivationName } from '../ops/activation-name.js';

/**
 * Applies a named activation (the ones the GEMM epilogue fuses go through the fused path in
 * Linear). Hugging Face's spellings (gelu_pytorch_tanh, gelu_new, swish...) are accepted too.
 */
export function activate(x: Tensor, name: ActivationName, slope = 0.01): Tensor {
  const canonical = activationName(name, "activate: 'name'");
  switch (canonical) {
    case 'relu':
      return relu(x);
    case 'gelu':
      return gelu(x);
    case 'gelu_tanh':
      return geluTanh(x);
    case 'silu':
      return silu(x);
    case 'leaky_relu':
      return leakyRelu(x, slope);
    case 'sigmoid':
      return x.sigmoid();
    case 'tanh':
      return x.tanh();
    case 'none':
      return x;
  }
}

const FUSED: Partial<Record<ActivationName, EpilogueActivation>> = {
  none: 'none',
  relu: 'relu',
  gelu: 'gelu',
  gelu_tanh: 'gelu_tanh',
  silu: 'silu',
};

function positiveInteger(layer: string, name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${layer}: '${name}' must be a positive integer, got ${value}`);
}

/** A normalisation's epsilon: finite and not negative (NaN or Infinity would make every output NaN). */
function epsilon(layer: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw new Error(`${layer}: 'eps' must be a finite number >= 0, got ${String(value)}`);
}

/** y = x·Wᵀ + b (torch.nn.Linear, with torch's default init), optionally with a fused activation. */
export class Linear extends Module {
  declare readonly weight: Tensor;
  declare readonly bias: Tensor | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LayerOptions & {
      bias?: boolean;
      init?: 'default' | 'xavier-normal' | 'xavier-uniform';
      /** Start the bias at zero (torch's MultiheadAttention) instead of U(±1/sqrt(in)). */
      zeroBias?: boolean;
      /** Fans for the xavier inits when this weight is a slice of a packed torch parameter. */
      fans?: { fanIn: number; fanOut: number };
    } = {},
  ) {
    super();
    positiveInteger('Linear', 'inFeatures', inFeatures);
    positiveInteger('Linear', 'outFeatures', outFeatures);
    const shape = [outFeatures, inFeatures];
    const weight =
      options.init === 'xavier-normal'
        ? init.xavierNormal(shape, 1, options)
        : options.init === 'xavier-uniform'
          ? init.xavierUniform(shape, 1, options)
          : init.linearUniform(shape, inFeatures, options);
    this.registerParameter('weight', weight);
    this.registerParameter(
      'bias',
      options.bias === false ? null : init.linearUniform([outFeatures], inFeatures, options),
    );
  }

  forward(x: Tensor, activation: ActivationName = 'none'): Tensor {
    activation = activationName(activation, "Linear.forward: 'activation'");
    const fused = FUSED[activation];
    if (fused) return linear(x, this.weight, this.bias ?? undefined, fused);
    return activate(linear(x, this.weight, this.bias ?? undefined), activation);
  }
}

export interface EmbeddingOptions extends LayerOptions {
  /** This row is all zeros and never receives a gradient (0 in llmrec's datasets). */
  paddingIdx?: number;
  /** Use this table (e.g. frozen LLM item embeddings) instead of a new one. */
  weight?: Tensor;
  /** Keep the table fixed (requiresGrad off). */
  frozen?: boolean;
  init?: 'normal' | 'xavier-normal';
  /** std of the 'normal' init (default 1, as torch.nn.Embedding). */
  std?: number;
}

/** A lookup table; forward gathers rows with the fused kernel (scale and positional add optional). */
export class Embedding extends Module {
  declare readonly weight: Tensor;
  readonly paddingIdx: number | undefined;
  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    options: EmbeddingOptions = {},
  ) {
    super();
    positiveInteger('Embedding', 'numEmbeddings', numEmbeddings);
    positiveInteger('Embedding', 'embeddingDim', embeddingDim);
    this.paddingIdx = options.paddingIdx;
    let weight = options.weight;
    if (weight) {
      if (weight.ndim !== 2 || weight.shape[0] !== numEmbeddings || weight.shape[1] !== embeddingDim)
        throw new Error(
          `Embedding: 'weight' has shape [${weight.shape.join(', ')}] but the layer is [${numEmbeddings}, ${embeddingDim}]`,
        );
    } else {
      weight =
        options.init === 'xavier-normal'
          ? init.xavierNormal([numEmbeddings, embeddingDim], 1, options)
          : init.normal([numEmbeddings, embeddingDim], 0, options.std ?? 1, options);
      if (options.paddingIdx !== undefined) {
        // torch zeroes the padding row at construction; the kernel then outputs zeros for it anyway.
        const host = weight.rawDataSync();
        host.fill(0, options.paddingIdx * embeddingDim, (options.paddingIdx + 1) * embeddingDim);
        weight.write(host);
      }
    }
    this.registerParameter('weight', weight);
    if (options.frozen) this.weight.requiresGrad = false;
  }

  forward(indices: Tensor, options: { scale?: number; positions?: Tensor } = {}): Tensor {
    return embeddingOp(indices, this.weight, { ...options, paddingIdx: this.paddingIdx });
  }
}

export class LayerNorm extends Module {
  declare readonly weight: Tensor;
  declare readonly bias: Tensor | null;
  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
    options: LayerOptions & { bias?: boolean } = {},
  ) {
    super();
    positiveInteger('LayerNorm', 'dim', dim);
    epsilon('LayerNorm', eps);
    this.registerParameter('weight', init.constant([dim], 1, options));
    this.registerParameter('bias', options.bias === false ? null : init.zerosInit([dim], options));
  }
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

export class RMSNorm extends Module {
  declare readonly weight: Tensor;
  constructor(
    readonly dim: number,
    readonly eps = 1e-6,
    options: LayerOptions = {},
  ) {
    super();
    positiveInteger('RMSNorm', 'dim', dim);
    epsilon('RMSNorm', eps);
    this.registerParameter('weight', init.constant([dim], 1, options));
  }
  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.eps);
  }
}

/** Inverted dropout in training mode (Philox masks from the global generator), identity in eval. */
export class Dropout extends Module {
  constructor(readonly p: number) {
    super();
    if (typeof p !== 'number' || !(p >= 0 && p < 1))
      throw new Error(`Dropout: 'p' must be in [0, 1), got ${String(p)}`);
  }
  forward(x: Tensor): Tensor {
    return this.training && this.p > 0 ? dropoutOp(x, this.p) : x;
  }
}

export interface MlpOptions extends LayerOptions {
  activation?: ActivationName;
  /** LayerNorm after each hidden Linear, before the activation (LLM-SRec's and A-LLMRec's MLPs). */
  layerNorm?: boolean;
  dropout?: number;
  /** Apply the activation after the last layer too. */
  activateLast?: boolean;
}

/** Linear → [LayerNorm] → activation → [Dropout] → … → Linear, for sizes [in, hidden..., out]. */
export class MLP extends Module {
  readonly layers: Linear[] = [];
  readonly norms: LayerNorm[] = [];
  readonly activation: ActivationName;
  declare readonly dropout: Dropout;
  constructor(
    readonly sizes: readonly number[],
    readonly options: MlpOptions = {},
  ) {
    super();
    if (!Array.isArray(sizes) || sizes.length < 2)
      throw new Error(
        `MLP: 'sizes' must be an array of at least [in, out], got ${Array.isArray(sizes) ? `[${sizes.join(', ')}]` : String(sizes)}`,
      );
    sizes.forEach((size, i) => positiveInteger('MLP', `sizes[${i}]`, size));
    this.activation = activationName(options.activation ?? 'relu', "MLP: 'activation'");
    for (let i = 0; i + 1 < sizes.length; i++) {
      this.layers.push(this.registerModule(`fc${i}`, new Linear(sizes[i]!, sizes[i + 1]!, options)));
      if (options.layerNorm && i + 2 < sizes.length)
        this.norms.push(this.registerModule(`norm${i}`, new LayerNorm(sizes[i + 1]!, 1e-5, options)));
    }
    this.registerModule('dropout', new Dropout(options.dropout ?? 0));
  }

  forward(x: Tensor): Tensor {
    let h = x;
    this.layers.forEach((layer, i) => {
      const last = i === this.layers.length - 1;
      const act = !last || this.options.activateLast ? this.activation : 'none';
      if (this.options.layerNorm && !last) h = activate(this.norms[i]!.forward(layer.forward(h)), act);
      else h = layer.forward(h, act);
      if (!last) h = this.dropout.forward(h);
    });
    return h;
  }
}

export interface AttentionCallOptions {
  causal?: boolean;
  keyPadding?: KeyPadding;
}

/**
 * Multi-head attention over [B, L, D] inputs on the fused kernel: separate q/k/v projections
 * (grouped-query when kvHeads < heads) and an output projection, all with biases by default
 * (torch.nn.MultiheadAttention's layout).
 */
export class MultiHeadAttention extends Module {
  readonly headDim: number;
  readonly kvHeads: number;
  declare readonly q: Linear;
  declare readonly k: Linear;
  declare readonly v: Linear;
  declare readonly out: Linear;
  constructor(
    readonly dim: number,
    readonly heads: number,
    readonly options: LayerOptions & {
      kvHeads?: number;
      bias?: boolean;
      dropout?: number;
      init?: 'default' | 'xavier-uniform' | 'xavier-normal';
    } = {},
  ) {
    super();
    positiveInteger('MultiHeadAttention', 'heads', heads);
    if (dim % heads !== 0) throw new Error(`MultiHeadAttention: dim ${dim} is not divisible by heads ${heads}`);
    this.headDim = dim / heads;
    this.kvHeads = options.kvHeads ?? heads;
    if (heads % this.kvHeads !== 0)
      throw new Error(`MultiHeadAttention: heads ${heads} is not a multiple of kvHeads ${this.kvHeads}`);
    const layer = { ...options, init: options.init ?? 'xavier-uniform', zeroBias: true };
    // torch draws q, k and v as one packed in_proj_weight [dim + 2·kvDim, dim]; match its spread.
    const kvDim = this.kvHeads * this.headDim;
    const packed = { ...layer, fans: { fanIn: dim, fanOut: dim + 2 * kvDim } };
    this.registerModule('q', new Linear(dim, dim, packed));
    this.registerModule('k', new Linear(dim, kvDim, packed));
    this.registerModule('v', new Linear(dim, kvDim, packed));
    this.registerModule('out', new Linear(dim, dim, layer));
  }

  /** [B, L, H·Dh] → [B, H, L, Dh] (a free reshape for one head). */
  private splitHeads(x: Tensor, heads: number): Tensor {
    const [b, l] = [x.shape[0]!, x.shape[1]!];
    if (heads === 1) return x.reshape(b, 1, l, this.headDim);
    return permute(x.reshape(b, l, heads, this.headDim), [0, 2, 1, 3]);
  }

  forward(query: Tensor, key: Tensor = query, value: Tensor = key, options: AttentionCallOptions = {}): Tensor {
    if (query.ndim !== 3)
      throw new Error(`MultiHeadAttention: 'query' must be [B, L, D], got [${query.shape.join(', ')}]`);
    const [b, l] = [query.shape[0]!, query.shape[1]!];
    const q = this.splitHeads(this.q.forward(query), this.heads);
    const k = this.splitHeads(this.k.forward(key), this.kvHeads);
    const v = this.splitHeads(this.v.forward(value), this.kvHeads);
    const p = this.training ? (this.options.dropout ?? 0) : 0;
    const attended = scaledDotProductAttention(q, k, v, { ...options, dropout: p > 0 ? { p } : undefined });
    const merged =
      this.heads === 1 ? attended.reshape(b, l, this.dim) : permute(attended, [0, 2, 1, 3]).reshape(b, l, this.dim);
    return this.out.forward(merged);
  }
}

export interface TransformerBlockOptions extends LayerOptions {
  ffnDim?: number;
  dropout?: number;
  activation?: ActivationName;
  /** 'pre': x + f(LN(x)); 'post': LN(x + f(x)). */
  norm?: 'pre' | 'post';
  eps?: number;
  kvHeads?: number;
}

/** A transformer encoder/decoder block: attention and a two-layer feed-forward, each with a residual. */
export class TransformerBlock extends Module {
  declare readonly attention: MultiHeadAttention;
  declare readonly ffn: MLP;
  declare readonly norm1: LayerNorm;
  declare readonly norm2: LayerNorm;
  declare readonly dropout: Dropout;
  readonly prenorm: boolean;
  constructor(
    readonly dim: number,
    readonly heads: number,
    options: TransformerBlockOptions = {},
  ) {
    super();
    this.prenorm = (options.norm ?? 'pre') === 'pre';
    const p = options.dropout ?? 0;
    this.registerModule('attention', new MultiHeadAttention(dim, heads, { ...options, dropout: p }));
    this.registerModule(
      'ffn',
      new MLP([dim, options.ffnDim ?? 4 * dim, dim], {
        ...options,
        activation: options.activation ?? 'gelu',
        dropout: p,
      }),
    );
    this.registerModule('norm1', new LayerNorm(dim, options.eps ?? 1e-5, options));
    this.registerModule('norm2', new LayerNorm(dim, options.eps ?? 1e-5, options));
    this.registerModule('dropout', new Dropout(p));
  }

  forward(x: Tensor, options: AttentionCallOptions = {}): Tensor {
    if (this.prenorm) {
      const h = x.add(
        this.dropout.forward(this.attention.forward(this.norm1.forward(x), undefined, undefined, options)),
      );
      return h.add(this.dropout.forward(this.ffn.forward(this.norm2.forward(h))));
    }
    const h = this.norm1.forward(x.add(this.dropout.forward(this.attention.forward(x, x, x, options))));
    return this.norm2.forward(h.add(this.dropout.forward(this.ffn.forward(h))));
  }
}

/**
 * A GRU (torch.nn.GRU's equations and gate order r, z, n) over [B, L, In] inputs. The input
 * projections of all steps are one GEMM; the recurrence runs step by step.
 */
export class GRU extends Module {
  readonly cells: { ih: Linear; hh: Linear }[] = [];
  constructor(
    readonly inputSize: number,
    readonly hiddenSize: number,
    readonly numLayers = 1,
    options: LayerOptions = {},
  ) {
    super();
    expectArgs('new GRU', { inputSize, hiddenSize, numLayers }, 'integer');
    expectArgs('new GRU', { options }, 'options');
    positiveInteger('GRU', 'inputSize', inputSize);
    positiveInteger('GRU', 'hiddenSize', hiddenSize);
    positiveInteger('GRU', 'numLayers', numLayers);
    for (let layer = 0; layer < numLayers; layer++) {
      // torch initialises every GRU weight and bias U(±1/sqrt(hidden)).
      const ih = new Linear(layer === 0 ? inputSize : hiddenSize, 3 * hiddenSize, options);
      const hh = new Linear(hiddenSize, 3 * hiddenSize, options);
      this.cells.push({ ih: this.registerModule(`ih${layer}`, ih), hh: this.registerModule(`hh${layer}`, hh) });
    }
  }

  /** Returns every step's output [B, L, H] and the last hidden state [numLayers, B, H]. */
  forward(x: Tensor, h0?: Tensor): { output: Tensor; hidden: Tensor } {
    if (x.ndim !== 3 || x.shape[2] !== this.inputSize)
      throw new Error(`GRU: input must be [B, L, ${this.inputSize}], got [${x.shape.join(', ')}]`);
    const [b, l] = [x.shape[0]!, x.shape[1]!];
    const hsz = this.hiddenSize;
    let input = x;
    const finals: Tensor[] = [];
    this.cells.forEach(({ ih, hh }, layer) => {
      const gatesX = ih.forward(input); // [B, L, 3H]
      let h = h0
        ? narrow(h0, 0, layer, 1).reshape(b, hsz)
        : init.zerosInit([b, hsz], { device: x.device, dtype: x.dtype === 'bf16' ? 'bf16' : 'f32' });
      const outputs: Tensor[] = [];
      for (let t = 0; t < l; t++) {
        const gx = narrow(gatesX, 1, t, 1).reshape(b, 3 * hsz);
        const gh = hh.forward(h);
        const r = narrow(gx, 1, 0, hsz)
          .add(narrow(gh, 1, 0, hsz))
          .sigmoid();
        const z = narrow(gx, 1, hsz, hsz)
          .add(narrow(gh, 1, hsz, hsz))
          .sigmoid();
        const n = narrow(gx, 1, 2 * hsz, hsz)
          .add(r.mul(narrow(gh, 1, 2 * hsz, hsz)))
          .tanh();
        h = n.add(z.mul(h.sub(n))); // (1 − z)·n + z·h
        outputs.push(h);
      }
      input = stack(outputs, 1);
      finals.push(h.unsqueeze(0));
    });
    return { output: input, hidden: concat(finals, 0) };
  }
}
