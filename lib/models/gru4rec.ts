// GRU4Rec (Hidasi et al.) in the session-based form LLM2Rec uses downstream: item embedding
// (own, or a frozen external table through a trainable adapter) → dropout → stacked GRU → the
// output at each position scored against the item representations, trained with softmax CE over
// all items at every non-padding position.
import { Dropout, GRU } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { narrow } from '../ops/layout.js';
import { linear } from '../ops/linalg.js';
import { linearCrossEntropy } from '../ops/loss.js';
import { tensor, type Tensor } from '../tensor.js';
import { ItemEncoder, type SequenceBatch, type SequenceRecommender } from './recommender-model.js';
import { expectArgs } from '../guard.js';

export interface GRU4RecConfig {
  numItems: number;
  hidden: number;
  layers: number;
  dropout: number;
  maxlen: number;
  /** Width of a frozen external item table (LLM2Rec); 0 for an own embedding. */
  externalDim: number;
}

export const gru4recPresets = {
  /** Small enough for the 2-core demo. */
  demo: { hidden: 64, layers: 1, dropout: 0.25, maxlen: 20, externalDim: 0 },
  /** LLM2Rec's downstream GRU4Rec (lr 1e-4 in the paper). */
  llm2rec: { hidden: 128, layers: 2, dropout: 0.3, maxlen: 10, externalDim: 896 },
} as const satisfies Record<string, Omit<GRU4RecConfig, 'numItems'>>;

export type GRU4RecPreset = keyof typeof gru4recPresets;

export function gru4recConfig(
  numItems: number,
  preset: GRU4RecPreset = 'demo',
  overrides: Partial<GRU4RecConfig> = {},
): GRU4RecConfig {
  const config = { ...gru4recPresets[preset], ...overrides, numItems };
  validateGRU4Rec(config);
  return config;
}

function validateGRU4Rec(c: GRU4RecConfig): void {
  for (const key of ['numItems', 'hidden', 'layers', 'maxlen'] as const)
    if (!Number.isInteger(c[key]) || c[key] < 1)
      throw new Error(`GRU4Rec: '${key}' must be a positive integer, got ${c[key]}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`GRU4Rec: 'dropout' must be in [0, 1), got ${c.dropout}`);
  if (!Number.isInteger(c.externalDim) || c.externalDim < 0)
    throw new Error(`GRU4Rec: 'externalDim' must be a non-negative integer, got ${c.externalDim}`);
}

export class GRU4Rec extends Module implements SequenceRecommender {
  readonly kind = 'gru4rec';
  declare readonly items: ItemEncoder;
  declare readonly dropout: Dropout;
  declare readonly gru: GRU;

  constructor(
    readonly config: GRU4RecConfig,
    options: { device?: string; externalItems?: Tensor } = {},
  ) {
    super();
    expectArgs('new GRU4Rec', { config }, 'object');
    expectArgs('new GRU4Rec', { options }, 'options');
    validateGRU4Rec(config);
    const device = options.device ?? 'cpu';
    const { numItems, hidden } = config;
    this.registerModule(
      'items',
      new ItemEncoder('GRU4Rec', numItems, hidden, config.externalDim, {
        device,
        externalItems: options.externalItems,
      }),
    );
    this.registerModule('dropout', new Dropout(config.dropout));
    this.registerModule('gru', new GRU(hidden, hidden, config.layers, { device }));
  }

  get device(): string {
    return this.items.table.weight.device;
  }

  itemEmbeddings(): Tensor {
    return this.items.all();
  }

  /** GRU outputs [rows, L, hidden] over left-padded ids. */
  encode(ids: Int32Array, rows: number): Tensor {
    const l = ids.length / rows;
    if (!Number.isInteger(l) || l < 1 || l > this.config.maxlen)
      throw new Error(`GRU4Rec: ${ids.length} ids do not form ${rows} rows of length 1..${this.config.maxlen}`);
    const input = tensor(ids, { shape: [rows, l], dtype: 'i32', device: this.device });
    const emb = this.items.lookup(input);
    return this.gru.forward(this.dropout.forward(emb)).output;
  }

  userRepresentation(ids: Int32Array, rows: number): Tensor {
    const l = ids.length / rows;
    return narrow(this.encode(ids, rows), 1, l - 1, 1).reshape(rows, this.config.hidden);
  }

  loss(batch: SequenceBatch): Tensor {
    const { rows, maxlen } = batch;
    const feats = this.encode(batch.input, rows).reshape(rows * maxlen, this.config.hidden);
    const labels = tensor(
      Int32Array.from(batch.positive, (v) => v - 1),
      { dtype: 'i32', device: this.device },
    );
    return linearCrossEntropy(feats, narrow(this.itemEmbeddings(), 0, 1, this.config.numItems), labels, {
      ignoreIndex: -1,
    });
  }

  scoreAll(ids: Int32Array, rows: number): Tensor {
    return linear(this.userRepresentation(ids, rows), this.itemEmbeddings());
  }
}
