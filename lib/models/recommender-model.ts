// What the training, evaluation and serving code needs of a sequential recommender, so SASRec,
// GRU4Rec and later models share all of it.
import { Embedding, Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { tensor, type Tensor } from '../tensor.js';

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
  /** The item representations, when the model keeps them in an ItemEncoder (SASRec, GRU4Rec). */
  readonly items?: ItemEncoder;
  /**
   * Models that represent items from their titles themselves (LLM-SRec's item prompt): writes the
   * representations of items `ids` under `titles` into the model (an id past the last item is
   * new and continues the catalogue, in order), or throws and changes nothing. What
   * Recommender.addItems calls for them.
   */
  addItemTitles?(ids: readonly number[], titles: readonly string[]): void;
}

/**
 * Embeds item texts into the space of a frozen external item table (LLM2Rec's encoder), so a
 * served model can take items it never saw: `ItemEncoder.setExternalRows` puts the rows in.
 */
export interface ItemTextEncoder {
  /** Width of each row (the table's externalDim). */
  readonly dim: number;
  /** Row-major [texts.length × dim]. */
  embed(texts: readonly string[]): Promise<Float32Array>;
  close(): void;
}

/**
 * What makes a model unusable although its training "finished": parameters holding NaN or
 * Infinity, or (weights finite but so large that scoring overflows) non-finite scores for a
 * probe history. Undefined when the model is sound. One read-back of each parameter.
 */
export function divergedModel(model: SequenceRecommender): string | undefined {
  const bad = model
    .namedParameters()
    .filter(([, p]) => p.dataSync().some((v) => !Number.isFinite(v)))
    .map(([name]) => name);
  if (bad.length > 0)
    return `non-finite weights (NaN or Infinity) in ${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ` and ${bad.length - 5} more` : ''}`;
  const probe = new Int32Array(model.config.maxlen);
  probe[probe.length - 1] = 1;
  const scores = model.scoreAll(probe, 1);
  try {
    const values = scores.dataSync();
    // Index 0 is the padding row, which some models mask with -Infinity.
    if (values.subarray(1).some((v) => !Number.isFinite(v))) return 'non-finite scores (its weights overflow)';
  } finally {
    scores.dispose();
  }
  return undefined;
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

  /**
   * Writes `rows` [ids.length, externalDim] of the frozen external table at item `ids`: an id up
   * to the table's last row replaces that row, the others must continue it (last + 1, + 2, ...)
   * and grow the table. The adapter is unchanged.
   */
  setExternalRows(ids: readonly number[], rows: Float32Array): void {
    if (!this.external) throw new Error(`${this.model}: only an external item table takes new rows`);
    const [count, dim] = this.table.weight.shape as [number, number];
    if (rows.length !== ids.length * dim)
      throw new Error(`${this.model}: ${ids.length} ids need ${ids.length * dim} values, got ${rows.length}`);
    let size = count;
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 1 || id > size)
        throw new Error(
          `${this.model}: item id ${id} neither replaces a row (1..${size - 1}) nor continues the table (${size})`,
        );
      if (id === size) size++;
    }
    const weight = new Float32Array(size * dim);
    weight.set(this.table.weight.dataSync() as Float32Array);
    ids.forEach((id, i) => weight.set(rows.subarray(i * dim, (i + 1) * dim), id * dim));
    const device = this.table.weight.device;
    this.replaceModule(
      'table',
      new Embedding(size, dim, { weight: tensor(weight, { shape: [size, dim], device }), frozen: true, paddingIdx: 0 }),
    );
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
