// What the training, evaluation and serving code needs of a sequential recommender, so SASRec,
// GRU4Rec and later models share all of it.
import type { Module } from '../nn/module.js';
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
  /** User representations [rows, hidden] from left-padded histories. */
  userRepresentation(ids: Int32Array, rows: number): Tensor;
  /** Item representations [numItems + 1, hidden] that scoring multiplies with (row 0: padding). */
  itemEmbeddings(): Tensor;
  /** Scores [rows, numItems + 1] of every item. */
  scoreAll(ids: Int32Array, rows: number): Tensor;
}

/** The last `maxlen` items of a history, left-padded with zeros, written into `out` at `row`. */
export function leftPad(history: ArrayLike<number>, maxlen: number, out: Int32Array, row: number): void {
  const take = Math.min(history.length, maxlen);
  const base = row * maxlen + (maxlen - take);
  for (let i = 0; i < take; i++) out[base + i] = history[history.length - take + i]!;
}
