// LLM-SRec's model: a frozen causal LM and a frozen SASRec, joined by the small modules that
// train (papers.md, "LLM-SRec"):
//
//   f_I        SASRec item embedding (d) → LM hidden H: Linear, LayerNorm, LeakyReLU, Linear
//   f_user     h_U (H) → userHidden → outDim:            Linear, LayerNorm, LeakyReLU, Linear
//   f_item     h_I (H) → userHidden → outDim:            the same shape
//   f_CF-user  O_u (d) → cfHidden → outDim:              Linear, LayerNorm, GELU, Linear
//   [UserOut], [ItemOut]: two learned input vectors (initialised from the token table's mean and std)
//
// h_U and h_I are the LM's last hidden state (after the final norm) at [UserOut] and [ItemOut].
// Gradients flow through the frozen LM (its weights need none: see gemm's backward) to f_I and
// the two tokens. Loss = retrieval + MSE(normalise(u), normalise(c)) + uniformity(u) +
// uniformity(c), with u = f_user(h_U) and c = f_CF-user(O_u).
import { isGradEnabled, noGrad } from '../../autograd.js';
import type { CausalLM } from '../../llm/model.js';
import { poolHidden } from '../../llm/model.js';
import { uniformity } from '../../losses/fused.js';
import type { SequenceRecommender } from '../../models/recommender-model.js';
import { leftPad } from '../../models/recommender-model.js';
import { activate, LayerNorm, Linear } from '../../nn/layers.js';
import * as init from '../../nn/init.js';
import { Module } from '../../nn/module.js';
import { embedding } from '../../ops/embedding.js';
import { concat, narrow } from '../../ops/layout.js';
import { sampledSoftmaxLoss } from '../../ops/loss.js';
import { mlpDistill } from '../../ops/mlp-distill.js';
import { keep, tidy } from '../../scope.js';
import { tensor, zeros, type Tensor } from '../../tensor.js';
import { padPrompts, type EncodedPrompt, type PromptBuilder } from './prompts.js';

/** Linear → LayerNorm → activation → Linear, Xavier-normal weights (the official nn.Sequential). */
export class ProjectionMLP extends Module {
  declare readonly fc1: Linear;
  declare readonly norm: LayerNorm;
  declare readonly fc2: Linear;
  constructor(
    sizes: readonly [number, number, number],
    readonly activation: 'leaky_relu' | 'gelu',
    device: string,
  ) {
    super();
    this.registerModule('fc1', new Linear(sizes[0], sizes[1], { device, init: 'xavier-normal' }));
    this.registerModule('norm', new LayerNorm(sizes[1], 1e-5, { device }));
    this.registerModule('fc2', new Linear(sizes[1], sizes[2], { device, init: 'xavier-normal' }));
  }
  forward(x: Tensor): Tensor {
    return this.fc2.forward(activate(this.norm.forward(this.fc1.forward(x)), this.activation));
  }
}

export interface LLMSRecShape {
  /** The SASRec's hidden size d. */
  cfDim: number;
  /** The LM's hidden size H. */
  lmHidden: number;
  userHidden: number;
  cfHidden: number;
  outDim: number;
}

/** Everything LLM-SRec trains; its state dict is what the distill stage saves. */
export class LLMSRecHeads extends Module {
  declare readonly itemProjection: ProjectionMLP;
  declare readonly userHead: ProjectionMLP;
  declare readonly itemHead: ProjectionMLP;
  declare readonly cfUserHead: ProjectionMLP;
  declare readonly userOut: Tensor;
  declare readonly itemOut: Tensor;

  constructor(
    readonly shape: LLMSRecShape,
    options: { device?: string; tokenTable?: Tensor; seed?: number } = {},
  ) {
    super();
    const device = options.device ?? 'cpu';
    const { cfDim, lmHidden: h, userHidden, cfHidden, outDim } = shape;
    this.registerModule('itemProjection', new ProjectionMLP([cfDim, h, h], 'leaky_relu', device));
    this.registerModule('userHead', new ProjectionMLP([h, userHidden, outDim], 'leaky_relu', device));
    this.registerModule('itemHead', new ProjectionMLP([h, userHidden, outDim], 'leaky_relu', device));
    this.registerModule('cfUserHead', new ProjectionMLP([cfDim, cfHidden, outDim], 'gelu', device));
    // N(mean, std) of the whole token table, as nn.init.normal_(w, table.mean(), table.std()).
    const { mean, std } = options.tokenTable ? tableStatistics(options.tokenTable) : { mean: 0, std: 1 };
    this.registerParameter('userOut', init.normal([1, h], mean, std, { device }));
    this.registerParameter('itemOut', init.normal([1, h], mean, std, { device }));
  }
}

/** Padded tokens per LM pass when hiddenAtOut runs without gradients. */
export const PASS_TOKENS = 1024;

/**
 * Indices of `lengths` in groups of similar length (ascending), each group's count times its
 * longest at most `maxTokens` (a longer single prompt is a group of its own).
 */
export function lengthGroups(lengths: readonly number[], maxTokens: number): number[][] {
  if (!Array.isArray(lengths) || lengths.some((n) => !Number.isInteger(n) || n < 0))
    throw new Error('lengthGroups: lengths must be an array of non-negative integers');
  if (!Number.isInteger(maxTokens) || maxTokens < 1)
    throw new Error(`lengthGroups: maxTokens must be a positive integer, got ${String(maxTokens)}`);
  const sorted = lengths.map((_, i) => i).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  const groups: number[][] = [];
  let current: number[] = [];
  for (const i of sorted) {
    if (current.length > 0 && (current.length + 1) * lengths[i]! > maxTokens) {
      groups.push(current);
      current = [];
    }
    current.push(i);
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/** Mean and (unbiased) standard deviation over every element of a table, in float64. */
export function tableStatistics(table: Tensor): { mean: number; std: number } {
  const values = noGrad(() => (table.dtype === 'f32' ? table.dataSync() : table.cast('f32').dataSync()));
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / values.length;
  let squares = 0;
  for (const v of values) squares += (v - mean) * (v - mean);
  return { mean, std: Math.sqrt(squares / Math.max(1, values.length - 1)) };
}

/** One user's input to the LLM side: the history before the target (oldest first) and its times. */
export interface UserHistory {
  items: ArrayLike<number>;
  /** UTC ms aligned with items, or null (no dates in the prompt). */
  times: ArrayLike<number> | null;
}

/** A training batch: each user's history, target and negatives. */
export interface LLMSRecBatch {
  histories: UserHistory[];
  /** Per user: [target, negative 1, ..., negative n]. */
  candidates: number[][];
}

/** Which terms the loss has (the paper's ablations switch them off). */
export interface LossTerms {
  distillation: boolean;
  uniformity: boolean;
}

/** Each term of one batch's loss, as tensors (scalars); `total` is what backward runs on. */
export interface LossParts {
  total: Tensor;
  retrieval: Tensor;
  distillation?: Tensor;
  uniformityUser?: Tensor;
  uniformityCF?: Tensor;
}

export class LLMSRec {
  /** The frozen SASRec item table [numItems + 1, d]; [HistoryEmb] slots read it through f_I. */
  readonly cfItems: Tensor;
  /** Padded tokens per LM pass without gradients (see hiddenAtOut). */
  passTokens = PASS_TOKENS;

  constructor(
    readonly lm: CausalLM,
    readonly sasrec: SequenceRecommender,
    readonly heads: LLMSRecHeads,
    readonly prompts: PromptBuilder,
  ) {
    lm.freeze().eval();
    sasrec.freeze().eval();
    this.cfItems = keep(noGrad(() => sasrec.itemEmbeddings().clone()));
  }

  get device(): string {
    return this.lm.device;
  }

  /**
   * The LM's hidden state at each prompt's out token [B, H]. [HistoryEmb] slots take f_I of the
   * SASRec embedding of their item (`extraItems` supplies f_I inputs for items outside the table:
   * new items of a served catalogue); the out slot takes `outToken`.
   */
  hiddenAtOut(
    prompts: readonly EncodedPrompt[],
    outToken: Tensor,
    extraItems?: (item: number) => Tensor | null,
  ): Tensor {
    // Without gradients (evaluation, serving), prompts of similar length share a pass of at
    // most PASS_TOKENS padded tokens: one pass over many prompts right-padded to the longest
    // cost several times the single passes on the CPU (BENCHMARKS.md, serving at 64 callers).
    // Training keeps one pass per batch (its numerics and exact resume do not change).
    if (isGradEnabled() || prompts.length === 1) return this.#hiddenAtOutPass(prompts, outToken, extraItems);
    const groups = lengthGroups(
      prompts.map((p) => p.ids.length),
      this.passTokens,
    );
    if (groups.length === 1) return this.#hiddenAtOutPass(prompts, outToken, extraItems);
    const order = groups.flat();
    const parts = groups.map((g) =>
      this.#hiddenAtOutPass(
        g.map((i) => prompts[i]!),
        outToken,
        extraItems,
      ),
    );
    const back = new Int32Array(order.length);
    order.forEach((original, at) => (back[original] = at));
    return embedding(tensor(back, { dtype: 'i32', device: this.device }), concat(parts, 0));
  }

  #hiddenAtOutPass(
    prompts: readonly EncodedPrompt[],
    outToken: Tensor,
    extraItems?: (item: number) => Tensor | null,
  ): Tensor {
    const { ids, width } = padPrompts(prompts);
    const batch: number[] = [];
    const position: number[] = [];
    const items: number[] = [];
    prompts.forEach((p, r) => {
      p.historySlots.forEach((slot, k) => {
        batch.push(r);
        position.push(slot);
        items.push(p.historyItems[k]!);
      });
    });
    const cfInput = this.#cfRows(items, extraItems);
    const history = this.heads.itemProjection.forward(cfInput);
    const outRows = embedding(zeros([prompts.length], { dtype: 'i32', device: this.device }), outToken);
    prompts.forEach((p, r) => {
      batch.push(r);
      position.push(p.outSlot);
    });
    // No key-padding mask: the padding is on the right and attention is causal, so no real
    // position attends a pad (as the official code, which passes no attention mask); the pads'
    // own outputs are never read. The masked attention path costs several times more on the CPU.
    const { lastHiddenState } = this.lm.forward({
      inputIds: ids,
      shape: [prompts.length, width],
      softEmbeddings: { batch, position, values: concat([history, outRows], 0) },
      logits: 'none',
    });
    return poolHidden(lastHiddenState, { mode: 'positions', positions: prompts.map((p) => p.outSlot) });
  }

  /** SASRec item embeddings of `items` [K, d]; ids beyond the table come from `extraItems`. */
  #cfRows(items: readonly number[], extraItems?: (item: number) => Tensor | null): Tensor {
    const rows = this.cfItems.shape[0]!;
    if (items.every((i) => i > 0 && i < rows))
      return embedding(tensor(Int32Array.from(items), { dtype: 'i32', device: this.device }), this.cfItems);
    return concat(
      items.map((item) => {
        if (item > 0 && item < rows)
          return embedding(tensor(Int32Array.of(item), { dtype: 'i32', device: this.device }), this.cfItems);
        const extra = extraItems?.(item);
        if (!extra) throw new Error(`LLM-SRec: item ${item} has no SASRec embedding`);
        return extra;
      }),
      0,
    );
  }

  /** u = f_user(h_U) [B, outDim] of user histories. */
  userRepresentations(histories: readonly UserHistory[], extraItems?: (item: number) => Tensor | null): Tensor {
    const prompts = histories.map((h) => this.prompts.encodeUser(h.items, h.times));
    return this.heads.userHead.forward(this.hiddenAtOut(prompts, this.heads.userOut, extraItems));
  }

  /** f_item(h_I) [K, outDim] of items. */
  itemRepresentations(items: readonly number[], extraItems?: (item: number) => Tensor | null): Tensor {
    const prompts = items.map((item) => this.prompts.encodeItem(item));
    return this.heads.itemHead.forward(this.hiddenAtOut(prompts, this.heads.itemOut, extraItems));
  }

  /** The frozen SASRec's user representation O_u [B, d] of each history (its last maxlen items). */
  cfUserRepresentations(histories: readonly UserHistory[]): Tensor {
    const maxlen = this.sasrec.config.maxlen;
    const ids = new Int32Array(histories.length * maxlen);
    histories.forEach((h, r) => leftPad(h.items, maxlen, ids, r));
    return noGrad(() => this.sasrec.userRepresentation(ids, histories.length));
  }

  /**
   * f_item of items 1..n as a table [n + 1, outDim] (row 0 zeros), `batch` prompts per forward
   * pass, without gradients: what evaluation and serving score against.
   */
  itemTable(numItems: number, batch: number, onProgress?: (done: number) => void): Tensor {
    const out = new Float32Array((numItems + 1) * this.heads.shape.outDim);
    noGrad(() => {
      for (let start = 1; start <= numItems; start += batch) {
        const items = Array.from({ length: Math.min(batch, numItems - start + 1) }, (_, k) => start + k);
        out.set(
          tidy(() => this.itemRepresentations(items).dataSync()),
          start * this.heads.shape.outDim,
        );
        onProgress?.(start + items.length - 1);
      }
    });
    return tensor(out, { shape: [numItems + 1, this.heads.shape.outDim], device: this.device });
  }

  /** The loss of one batch, term by term. */
  loss(batch: LLMSRecBatch, terms: LossTerms): LossParts {
    const b = batch.histories.length;
    if (b < 2) throw new Error(`LLM-SRec: a batch needs at least 2 users (uniformity is over pairs), got ${b}`);
    const width = batch.candidates[0]!.length;
    if (width < 2 || batch.candidates.some((c) => c.length !== width))
      throw new Error('LLM-SRec: every user needs the target and the same number (>= 1) of negatives');
    const u = this.userRepresentations(batch.histories);
    const items = this.itemRepresentations(batch.candidates.flat());
    const parts = lossTerms(u, items, this.cfUserRepresentations(batch.histories), this.heads.cfUserHead, terms);
    return parts;
  }
}

/**
 * The loss from its inputs: u [B, D] = f_user(h_U); items [B·(1+n), D] = f_item(h_I) of each
 * user's target then negatives; cfUsers [B, d] = O_u. Exported for the float64 reference tests.
 */
export function lossTerms(
  u: Tensor,
  items: Tensor,
  cfUsers: Tensor,
  cfUserHead: ProjectionMLP,
  terms: LossTerms,
): LossParts {
  const [b, d] = [u.shape[0]!, u.shape[1]!];
  const width = items.shape[0]! / b;
  // Retrieval: cross-entropy of the dot products over {target, negatives}, no temperature.
  const scores = items.reshape(b, width, d).mul(u.unsqueeze(1)).sum(2);
  const retrieval = sampledSoftmaxLoss(narrow(scores, 1, 0, 1).reshape(b), narrow(scores, 1, 1, width - 1));
  const parts: LossParts = { total: retrieval, retrieval };
  if (terms.distillation) {
    // MSE(normalise(u), normalise(f_CF-user(O_u))) in one fused kernel: f_CF-user's two GEMMs,
    // LayerNorm, GELU and the normalised MSE, with the gradient reaching u (the "teacher" slot).
    const head = cfUserHead;
    parts.distillation = mlpDistill(cfUsers, head.fc1.weight, head.fc1.bias!, head.fc2.weight, head.fc2.bias!, u, {
      layerNorm: { weight: head.norm.weight, bias: head.norm.bias!, eps: head.norm.eps },
      activation: 'gelu',
      loss: 'normalized_mse',
      teacherTrainable: true,
    });
    parts.total = parts.total.add(parts.distillation);
  }
  if (terms.uniformity) {
    // mean over pairs of exp(−2‖x − x′‖²) of the normalised rows (uniformity normalises them).
    parts.uniformityUser = uniformity(u, 2, { log: false });
    parts.uniformityCF = uniformity(cfUserHead.forward(cfUsers), 2, { log: false });
    parts.total = parts.total.add(parts.uniformityUser).add(parts.uniformityCF);
  }
  return parts;
}
