// Stage 2's inputs: the prompts of a batch of (history, candidates) rows as token ids, and their
// soft tokens (F_U of the SASRec user representation, F_I of each shown item's joint latent).
import { noGrad } from '../../autograd.js';
import type { SoftEmbeddings } from '../../llm/model.js';
import { leftPad, type SequenceRecommender } from '../../models/recommender-model.js';
import { embedding } from '../../ops/embedding.js';
import { concat } from '../../ops/layout.js';
import { tensor, type Tensor } from '../../tensor.js';
import type { ItemTextAligner, SoftPromptProjectors } from './model.js';
import { promptTitle, type PromptEncoder, type PromptTokens } from './prompt.js';

/** One question: a user's history (oldest first) and the candidates shown, the target among them. */
export interface PromptRow {
  history: ArrayLike<number>;
  candidates: ArrayLike<number>;
  target: number;
}

/** Every item's prompt title (index 0 unused). */
export function promptTitles(catalogue: { itemKeys: readonly string[]; titles: readonly string[] }): string[] {
  return catalogue.itemKeys.map((key, i) => (i === 0 ? '' : promptTitle(catalogue.titles[i], key)));
}

/**
 * The joint latent of every item [numItems + 1, latent]: the item encoder's latent of its SASRec
 * embedding, or (the paper's text-only variant) the text encoder's latent of its text embedding
 * for items with fewer than `textOnlyBelow` training interactions.
 */
export function itemLatentTable(
  cf: SequenceRecommender,
  aligner: ItemTextAligner,
  textTable: Tensor,
  counts: ArrayLike<number>,
  textOnlyBelow: number,
): Tensor {
  return noGrad(() => {
    const items = aligner.item.encode(cf.itemEmbeddings());
    if (textOnlyBelow <= 0) return items;
    const useText = Float32Array.from({ length: counts.length }, (_, i) =>
      i > 0 && counts[i]! < textOnlyBelow ? 1 : 0,
    );
    const mask = tensor(useText, { shape: [counts.length, 1], device: cf.device });
    const text = aligner.text.encode(textTable);
    return items.mul(mask.neg().add(1)).add(text.mul(mask));
  });
}

export interface SoftPromptBatch {
  prompts: PromptTokens[];
  soft: SoftEmbeddings;
}

/** What building a batch's soft prompts needs. */
export interface SoftPromptContext {
  cf: SequenceRecommender;
  projectors: SoftPromptProjectors;
  /** itemLatentTable's output. */
  latents: Tensor;
  encoder: PromptEncoder;
  titles: readonly string[];
  historyItems: number;
  placeholder: number;
  /**
   * Cross-domain: the SASRec's item id of each (test-domain) item id, 0 for an item it never saw.
   * Undefined when the items are the SASRec's own.
   */
  cfItems?: Int32Array;
}

/** A history in the SASRec's item ids: mapped through `cfItems`, items it never saw left out. */
export function cfHistory(history: ArrayLike<number>, cfItems: Int32Array | undefined): ArrayLike<number> {
  if (!cfItems) return history;
  return Int32Array.from(Array.from(history, (item) => cfItems[item] ?? 0).filter((item) => item > 0));
}

/** The last `historyItems` items of a history, as the prompt shows them. */
export function shownHistory(history: ArrayLike<number>, historyItems: number): number[] {
  const all = Array.from(history);
  return all.slice(Math.max(0, all.length - historyItems));
}

/**
 * The prompts of `rows` and their soft tokens: values are [F_U(user reps); F_I(latents of every
 * shown item)], differentiable in the projectors (the SASRec and the latents are constants).
 */
export function softPromptBatch(ctx: SoftPromptContext, rows: readonly PromptRow[]): SoftPromptBatch {
  const { cf, projectors, latents, encoder, titles } = ctx;
  const maxlen = cf.config.maxlen;
  const input = new Int32Array(rows.length * maxlen);
  rows.forEach((row, r) => leftPad(cfHistory(row.history, ctx.cfItems), maxlen, input, r));
  const batch: number[] = [];
  const position: number[] = [];
  const items: number[] = [];
  const prompts = rows.map((row, r) => {
    const shown = shownHistory(row.history, ctx.historyItems);
    const candidates = Array.from(row.candidates);
    const prompt = encoder.build(
      shown.map((i) => titles[i]!),
      candidates.map((i) => titles[i]!),
      { softTokens: true, placeholder: ctx.placeholder },
    );
    batch.push(r);
    position.push(prompt.userSlot);
    prompt.historySlots.forEach((slot, j) => (batch.push(r), position.push(slot), items.push(shown[j]!)));
    prompt.candidateSlots.forEach((slot, j) => (batch.push(r), position.push(slot), items.push(candidates[j]!)));
    return prompt;
  });
  // Users first (one per row), then the items in slot order: the same order as batch/position.
  const order = reorder(batch, position, rows.length);
  const users = noGrad(() => cf.userRepresentation(input, rows.length));
  const shownLatents = embedding(tensor(Int32Array.from(items), { dtype: 'i32', device: cf.device }), latents);
  const values = concat([projectors.user.forward(users), projectors.item.forward(shownLatents)], 0);
  return { prompts, soft: { batch: order.batch, position: order.position, values } };
}

/** batch/position listed user slots first (row order), then item slots (in push order). */
function reorder(batch: number[], position: number[], rows: number): { batch: Int32Array; position: Int32Array } {
  const userAt: number[] = [];
  const itemAt: number[] = [];
  let row = -1;
  for (let k = 0; k < batch.length; k++) {
    if (batch[k] !== row) {
      row = batch[k]!;
      userAt.push(k);
    } else itemAt.push(k);
  }
  if (userAt.length !== rows) throw new Error('softPromptBatch: every row needs its user slot');
  const order = [...userAt, ...itemAt];
  return { batch: Int32Array.from(order, (k) => batch[k]!), position: Int32Array.from(order, (k) => position[k]!) };
}
