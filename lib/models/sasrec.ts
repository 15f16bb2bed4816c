// SASRec (Kang & McAuley 2018) as pmixer/SASRec.pytorch builds it, which is the CF-SRec inside
// LLM-SRec and A-LLMRec:
//   √d-scaled item embedding + learned position embedding (pads stay zero), dropout;
//   per block: Q = LN(x); x = Q + MHA(Q, x, x) (causal); x = LN(x); x = x + FFN(x); x *= mask;
//   a final LayerNorm; the user representation is the last position.
// Also the LLM2Rec downstream variant: a frozen external item table (any width) through one
// trainable Linear adapter used for both the input and the scoring, post-LN, GELU, CE loss.
import { bceWithLogits, linearCrossEntropy } from '../ops/loss.js';
import { narrow } from '../ops/layout.js';
import { linear } from '../ops/linalg.js';
import {
  Dropout,
  Embedding,
  LayerNorm,
  Linear,
  MultiHeadAttention,
  activate,
  type ActivationName,
} from '../nn/layers.js';
import { Module } from '../nn/module.js';
import * as init from '../nn/init.js';
import { tensor, type Tensor } from '../tensor.js';
import { ItemEncoder, type SequenceBatch, type SequenceRecommender } from './recommender-model.js';
import { expectArgs } from '../guard.js';

export interface SASRecConfig {
  numItems: number;
  hidden: number;
  blocks: number;
  heads: number;
  dropout: number;
  maxlen: number;
  /** 'pre' is pmixer's block; 'post' is LLM2Rec's downstream SASRec. */
  norm: 'pre' | 'post';
  activation: 'relu' | 'gelu';
  /** Width of the point-wise feed-forward (pmixer: hidden). */
  ffnDim: number;
  /** LayerNorm epsilon (pmixer: 1e-8). */
  eps: number;
  /** 'bce': one sampled negative per position (pmixer); 'ce': softmax over all items. */
  loss: 'bce' | 'ce';
  /** Width of a frozen external item table (LLM2Rec); 0 for SASRec's own item embedding. */
  externalDim: number;
}

export type SASRecPreset = 'llm-srec' | 'a-llmrec' | 'llm2rec';

/** The configurations of papers.md. */
export const sasrecPresets: Record<SASRecPreset, Omit<SASRecConfig, 'numItems'>> = {
  'llm-srec': {
    hidden: 64,
    blocks: 2,
    heads: 1,
    dropout: 0.1,
    maxlen: 128,
    norm: 'pre',
    activation: 'relu',
    ffnDim: 64,
    eps: 1e-8,
    loss: 'bce',
    externalDim: 0,
  },
  'a-llmrec': {
    hidden: 50,
    blocks: 2,
    heads: 1,
    dropout: 0.5,
    maxlen: 50,
    norm: 'pre',
    activation: 'relu',
    ffnDim: 50,
    eps: 1e-8,
    loss: 'bce',
    externalDim: 0,
  },
  llm2rec: {
    hidden: 128,
    blocks: 2,
    heads: 2,
    dropout: 0.3,
    maxlen: 10,
    norm: 'post',
    activation: 'gelu',
    ffnDim: 256,
    eps: 1e-8,
    loss: 'ce',
    externalDim: 896,
  },
};

export function sasrecConfig(
  numItems: number,
  preset: SASRecPreset = 'a-llmrec',
  overrides: Partial<SASRecConfig> = {},
): SASRecConfig {
  const config = { ...sasrecPresets[preset], ...overrides, numItems };
  validateSASRec(config);
  return config;
}

function validateSASRec(c: SASRecConfig): void {
  for (const key of ['numItems', 'hidden', 'blocks', 'heads', 'maxlen', 'ffnDim'] as const)
    if (!Number.isInteger(c[key]) || c[key] < 1)
      throw new Error(`SASRec: '${key}' must be a positive integer, got ${c[key]}`);
  if (c.hidden % c.heads !== 0) throw new Error(`SASRec: hidden ${c.hidden} is not divisible by heads ${c.heads}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`SASRec: 'dropout' must be in [0, 1), got ${c.dropout}`);
  if (!Number.isInteger(c.externalDim) || c.externalDim < 0)
    throw new Error(`SASRec: 'externalDim' must be a non-negative integer, got ${c.externalDim}`);
  if (typeof c.eps !== 'number' || !Number.isFinite(c.eps) || c.eps < 0)
    throw new Error(`SASRec: 'eps' must be a finite number >= 0, got ${c.eps}`);
}

class SASRecBlock extends Module {
  declare readonly attentionNorm: LayerNorm;
  declare readonly attention: MultiHeadAttention;
  declare readonly forwardNorm: LayerNorm;
  declare readonly fc1: Linear;
  declare readonly fc2: Linear;
  declare readonly dropout: Dropout;
  constructor(
    private readonly c: SASRecConfig,
    device: string,
  ) {
    super();
    const layer = { device, init: 'xavier-normal' as const };
    this.registerModule('attentionNorm', new LayerNorm(c.hidden, c.eps, { device }));
    this.registerModule(
      'attention',
      new MultiHeadAttention(c.hidden, c.heads, { device, dropout: c.dropout, init: 'xavier-normal' }),
    );
    this.registerModule('forwardNorm', new LayerNorm(c.hidden, c.eps, { device }));
    this.registerModule('fc1', new Linear(c.hidden, c.ffnDim, layer));
    this.registerModule('fc2', new Linear(c.ffnDim, c.hidden, layer));
    this.registerModule('dropout', new Dropout(c.dropout));
  }

  private ffn(x: Tensor): Tensor {
    const act = this.c.activation as ActivationName;
    // pmixer: conv1 → dropout → ReLU → conv2 → dropout (dropout before the activation).
    const h =
      this.dropout.training && this.c.dropout > 0
        ? activate(this.dropout.forward(this.fc1.forward(x)), act)
        : this.fc1.forward(x, act);
    return this.dropout.forward(this.fc2.forward(h));
  }

  forward(x: Tensor, mask: Tensor): Tensor {
    let out: Tensor;
    if (this.c.norm === 'pre') {
      const q = this.attentionNorm.forward(x);
      const h = q.add(this.attention.forward(q, x, x, { causal: true }));
      const n = this.forwardNorm.forward(h);
      out = n.add(this.ffn(n));
    } else {
      const h = this.attentionNorm.forward(
        x.add(this.dropout.forward(this.attention.forward(x, x, x, { causal: true }))),
      );
      out = this.forwardNorm.forward(h.add(this.ffn(h)));
    }
    return out.mul(mask);
  }
}

/** SASRec; see the file comment. Inputs are left-padded [B, L] item ids (0 = padding). */
export class SASRec extends Module implements SequenceRecommender {
  readonly kind = 'sasrec';
  readonly blocks: SASRecBlock[] = [];
  declare readonly items: ItemEncoder;
  declare readonly positions: Embedding;
  declare readonly embeddingDropout: Dropout;
  declare readonly finalNorm: LayerNorm;

  constructor(
    readonly config: SASRecConfig,
    options: { device?: string; externalItems?: Tensor } = {},
  ) {
    super();
    expectArgs('new SASRec', { config }, 'object');
    expectArgs('new SASRec', { options }, 'options');
    validateSASRec(config);
    const device = options.device ?? 'cpu';
    const { numItems, hidden } = config;
    this.registerModule(
      'items',
      new ItemEncoder('SASRec', numItems, hidden, config.externalDim, { device, externalItems: options.externalItems }),
    );
    this.registerModule('positions', new Embedding(config.maxlen, hidden, { device, init: 'xavier-normal' }));
    this.registerModule('embeddingDropout', new Dropout(config.dropout));
    for (let b = 0; b < config.blocks; b++)
      this.blocks.push(this.registerModule(`block${b}`, new SASRecBlock(config, device)));
    this.registerModule('finalNorm', new LayerNorm(hidden, config.eps, { device }));
  }

  get device(): string {
    return this.positions.weight.device;
  }

  /** Every item's output embedding [numItems + 1, hidden] (row 0 is padding). */
  itemEmbeddings(): Tensor {
    return this.items.all();
  }

  /** Hidden states [B, L, hidden] of left-padded item ids (row-major [rows × L], 0 = padding). */
  encode(ids: Int32Array, rows: number): Tensor {
    const l = ids.length / rows;
    if (!Number.isInteger(l) || l < 1 || l > this.config.maxlen)
      throw new Error(`SASRec: ${ids.length} ids do not form ${rows} rows of length 1..${this.config.maxlen}`);
    const input = tensor(ids, { shape: [rows, l], dtype: 'i32', device: this.device });
    const mask = tensor(
      Float32Array.from(ids, (v) => (v !== 0 ? 1 : 0)),
      { shape: [rows, l, 1], device: this.device },
    );
    const scale = Math.sqrt(this.config.hidden);
    const positions = narrow(this.positions.weight, 0, this.config.maxlen - l, l);
    let x = this.items.lookup(input, { scale, positions });
    x = this.embeddingDropout.forward(x).mul(mask);
    for (const block of this.blocks) x = block.forward(x, mask);
    return this.finalNorm.forward(x);
  }

  /** The user representation: the last position's output [rows, hidden]. */
  userRepresentation(ids: Int32Array, rows: number): Tensor {
    const l = ids.length / rows;
    return narrow(this.encode(ids, rows), 1, l - 1, 1).reshape(rows, this.config.hidden);
  }

  /** The training loss of a batch (BCE with its sampled negatives, or CE over all items). */
  loss(batch: SequenceBatch): Tensor {
    const { rows, maxlen } = batch;
    const feats = this.encode(batch.input, rows);
    const valid = batch.positive.reduce((n, v) => n + (v !== 0 ? 1 : 0), 0);
    if (valid === 0) throw new Error('SASRec.loss: the batch has no non-padding position');
    if (this.config.loss === 'ce') {
      const table = this.itemEmbeddings();
      // Score items 1..n only: labels shift down by one and padding (0 → -1) is ignored.
      const labels = tensor(
        Int32Array.from(batch.positive, (v) => v - 1),
        { dtype: 'i32', device: this.device },
      );
      return linearCrossEntropy(
        feats.reshape(rows * maxlen, this.config.hidden),
        narrow(table, 0, 1, this.config.numItems),
        labels,
        { ignoreIndex: -1 },
      );
    }
    const pos = this.scoreItems(feats, batch.positive, rows, maxlen);
    const neg = this.scoreItems(feats, batch.negative!, rows, maxlen);
    const weight = tensor(
      Float32Array.from(batch.positive, (v) => (v !== 0 ? 1 : 0)),
      { shape: [rows, maxlen], device: this.device },
    );
    const ones = init.constant([rows, maxlen], 1, { device: this.device });
    const zeros = init.zerosInit([rows, maxlen], { device: this.device });
    // pmixer: mean over valid positions of BCE(pos, 1) plus the same for BCE(neg, 0).
    return bceWithLogits(pos, ones, { weight, reduction: 'sum' })
      .add(bceWithLogits(neg, zeros, { weight, reduction: 'sum' }))
      .scale(1 / valid);
  }

  /** feats [B, L, h] · emb(items) [B, L, h] summed over h: [B, L]. */
  private scoreItems(feats: Tensor, items: Int32Array, rows: number, maxlen: number): Tensor {
    const ids = tensor(items, { shape: [rows, maxlen], dtype: 'i32', device: this.device });
    const emb = this.items.lookup(ids);
    return feats.mul(emb).sum(2);
  }

  /** Scores [rows, numItems + 1] of every item for each input row (column 0 is padding). */
  scoreAll(ids: Int32Array, rows: number): Tensor {
    return linear(this.userRepresentation(ids, rows), this.itemEmbeddings());
  }
}
