// Stage 2b, item-level contrastive learning (unsupervised SimCSE, LLM2Vec's recipe): each title
// is encoded twice by the bidirectional LM with attention dropout, mean-pooled; the two views are
// positives and the other titles of the batch negatives, cosine similarity / τ, on the fused
// InfoNCE kernel. Titles that are the same text are not each other's negatives. Starts from
// MNTP's model.
import { Rng } from '../../data/rng.js';
import type { CausalLM } from '../../llm/model.js';
import { infonce } from '../../ops/infonce.js';
import { narrow } from '../../ops/layout.js';
import type { Tensor } from '../../tensor.js';
import { defineStage } from '../stage.js';
import type { LLM2RecConfig } from './config.js';
import { itemTexts, openLanguageModel, poolRows, saveLanguageModel, tokenizeTexts } from './language-model.js';
import { trainForSteps } from './training.js';

/** The item ids of SimCSE step `step`: `batch` distinct items (all of them when fewer), by (seed, step). */
export function simcseItems(numItems: number, o: { seed: number; step: number; batch: number }): number[] {
  const rng = new Rng(o.seed, 0x51c5e000 + o.step);
  if (o.batch >= numItems) return Array.from({ length: numItems }, (_, i) => i + 1);
  const chosen = new Set<number>();
  while (chosen.size < o.batch) chosen.add(1 + rng.nextInt(numItems));
  return [...chosen];
}

/** Per item id, the smallest id with the same text: equal keys mark false negatives. */
export function textKeys(texts: readonly string[]): Int32Array {
  const first = new Map<string, number>();
  return Int32Array.from(texts, (text, id) => {
    const seen = first.get(text);
    if (seen !== undefined) return seen;
    first.set(text, id);
    return id;
  });
}

/**
 * The SimCSE loss of token rows (one per item): one forward over the batch twice ([2B] rows, each
 * with its own dropout mask in training mode), mean pooling, InfoNCE of view 1 against view 2
 * with cosine / τ.
 */
export function simcseLoss(
  model: CausalLM,
  rows: readonly (readonly number[])[],
  keys: readonly number[],
  o: { tau: number; padId: number },
): Tensor {
  const b = rows.length;
  const pooled = poolRows(model, [...rows, ...rows], { attention: 'bidirectional', pooling: 'mean', padId: o.padId });
  return infonce(narrow(pooled, 0, 0, b), narrow(pooled, 0, b, b), {
    temperature: o.tau,
    normalize: true,
    itemIds: keys,
  });
}

export const simcse = defineStage<LLM2RecConfig>({
  name: 'simcse',
  summary: 'item-level contrastive learning: two dropout views of each title, in-batch negatives',
  requires: ['mntp'],
  async run(ctx) {
    const c = ctx.config;
    const { dataset } = await ctx.dataset();
    const texts = itemTexts(dataset);
    if (dataset.numItems < 2) throw new Error('llm2rec simcse: the dataset needs at least two items for negatives');
    const lm = openLanguageModel(ctx.stageDir('mntp'), ctx.device);
    // Dropout only in this stage: it is what makes the two views differ. The saved model keeps
    // the config it came with.
    const config = lm.model.config as { attentionDropout: number };
    const savedDropout = config.attentionDropout;
    config.attentionDropout = c.simcseDropout;
    try {
      const titles = tokenizeTexts(lm.tokenizer, texts, c.titleTokens);
      const keys = textKeys(texts);
      const result = await trainForSteps(ctx, {
        what: 'SimCSE',
        model: lm.model,
        steps: c.simcseSteps,
        lr: c.simcseLr,
        warmup: c.simcseWarmup,
        clipNorm: c.clipNorm,
        checkpointEvery: c.checkpointEvery,
        batch: (step) => simcseItems(dataset.numItems, { seed: ctx.seed, step, batch: c.simcseBatch }),
        loss: (items) => ({
          loss: simcseLoss(
            lm.model,
            items.map((id) => titles[id]!),
            items.map((id) => keys[id]!),
            { tau: c.tau, padId: lm.padId },
          ),
          tokens: 2 * items.reduce((n, id) => n + titles[id]!.length, 0),
        }),
      });
      config.attentionDropout = savedDropout;
      return { metrics: { ...result }, outputs: saveLanguageModel(ctx, lm) };
    } finally {
      config.attentionDropout = savedDropout;
      lm.model.dispose();
    }
  },
});
