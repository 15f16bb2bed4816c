// What the training, evaluation and serving code needs of a sequential recommender, so SASRec,
// GRU4Rec and later models share all of it.
import { Embedding, Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import type { Tensor } from '../tensor.js';

/** A batch of left-padded sequences, row-major [rows × maxlen]; 0 is padding. */
export interface SequenceBatch {
  rows: number;
  maxlen: number;
  input: Int32Array;
  /** The next item at each position. */
  positive: Int32Array;
  /** One sampled negative per position (BCE training). */
  negative?: Int32Array;
}

export interface SequenceRecommender extends Module {
  readonly kind: string;
  readonly config: { numItems: number; maxlen: number; hidden: number };
  readonly device: string;
  /** The training loss of one batch (a scalar tensor). */
  loss(batch: SequenceBatch): Tensor;
  /**
   * User representations [rows, hidden] from left-padded histories; `times` (UTC ms, NaN where
   * unknown), aligned with `ids`, is read only by models whose inputs carry dates (LLM-SRec).
   */
  userRepresentation(ids: Int32Array, rows: number, times?: Float64Array): Tensor;
  /** Item representations [numItems + 1, hidden] that scoring multiplies with (row 0: padding). */
  itemEmbeddings(): Tensor;
  /** Scores [rows, numItems + 1] of every item. */
  scoreAll(ids: Int32Array, rows: number): Tensor;
}

/** The last `maxlen` items of a history, left-padded with zeros, written into `out` at `row`. */
export function leftPad(history: ArrayLike<number>, maxlen: number, out: Int32Array | Float64Array, row: number): void {
  const take = Math.min(history.length, maxlen);
  const base = row * maxlen + (maxlen - take);
  for (let i = 0; i < take; i++) out[base + i] = history[history.length - take + i]!;
}

/**
 * Item representations for a sequential model: its own table [numItems + 1, hidden], or (the
 * LLM2Rec downstream variant) a frozen external table [numItems + 1, externalDim] mapped by one
 * trainable adapter, used alike for the input sequence and for scoring.
 */
export class ItemEncoder extends Module {
  declare readonly table: Embedding;
  declare readonly adapter: Linear;
  constructor(
    readonly model: string,
    numItems: number,
    hidden: number,
    externalDim: number,
    options: { device?: string; externalItems?: Tensor } = {},
  ) {
    super();
    const device = options.device ?? 'cpu';
    if (externalDim > 0) {
      const table = options.externalItems;
      if (!table || table.ndim !== 2 || table.shape[0] !== numItems + 1 || table.shape[1] !== externalDim)
        throw new Error(
          `${model}: the external variant needs 'externalItems' [${numItems + 1}, ${externalDim}] (row 0 padding), got ${table ? `[${table.shape.join(', ')}]` : 'none'}`,
        );
      this.registerModule(
        'table',
        new Embedding(numItems + 1, externalDim, { weight: table.to(device), frozen: true, paddingIdx: 0 }),
      );
      this.registerModule('adapter', new Linear(externalDim, hidden, { device, init: 'xavier-normal' }));
    } else {
      this.registerModule(
        'table',
        new Embedding(numItems + 1, hidden, { device, paddingIdx: 0, init: 'xavier-normal' }),
      );
    }
  }

  get external(): boolean {
    return this.namedChildren().some(([name]) => name === 'adapter');
  }

  /** Every item's representation [numItems + 1, hidden] (row 0 is padding). */
  all(): Tensor {
    return this.external ? this.adapter.forward(this.table.weight) : this.table.weight;
  }

  /** Representations of ids [...] → [..., hidden]; `scale` multiplies them (SASRec's √d). */
  lookup(ids: Tensor, options: { scale?: number; positions?: Tensor } = {}): Tensor {
    if (!this.external) return this.table.forward(ids, options);
    let x = this.adapter.forward(this.table.forward(ids));
    if (options.scale !== undefined) x = x.scale(options.scale);
    // Unlike the fused path, pads are not zeroed here (the adapter maps them to its bias); the
    // models mask them with the padding mask.
    if (options.positions) x = x.add(options.positions.reshape(1, ...options.positions.shape));
    return x;
  }
}
