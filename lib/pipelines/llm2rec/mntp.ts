// Stage 2a, masked next-token prediction (MNTP, LLM2Vec's recipe): attention becomes
// bidirectional; 20% of a title's tokens are chosen (80% replaced by the mask token, 10% by a
// random token, 10% kept) and each chosen token is predicted from the position before it (the
// causal LM's shifted cross-entropy, so the LM head is reused as is). Starts from CSFT's model.
import { Rng } from '../../data/rng.js';
import type { Tokenizer } from '../../llm/tokenizer.js';
import { defineStage } from '../stage.js';
import type { LLM2RecConfig } from './config.js';
import { IGNORE, labelledLoss, type LabelledTokens } from './csft.js';
import { itemTexts, openLanguageModel, saveLanguageModel, tokenizeTexts } from './language-model.js';
import { trainForSteps } from './training.js';

/** The id of the mask token's text, which must be a single token. */
export function maskTokenId(tokenizer: Tokenizer, text: string): number {
  const ids = tokenizer.encode(text, { addSpecialTokens: false });
  if (ids.length !== 1)
    throw new Error(
      `llm2rec mntp: the mask token '${text}' is ${ids.length} tokens in this tokenizer; choose one that is a single token with --mask-token`,
    );
  return ids[0]!;
}

/**
 * Masks one title's tokens (BERT's 80/10/10 rule). Special tokens (a BOS the tokenizer adds) are
 * never chosen; the first token can be chosen but has no previous position to predict it from,
 * so its label falls off in the shift, as in LLM2Vec.
 */
export function maskTokens(
  ids: readonly number[],
  rng: Rng,
  o: { probability: number; maskId: number; vocabSize: number; special: ReadonlySet<number> },
): LabelledTokens {
  const input = [...ids];
  const labels = ids.map(() => IGNORE);
  for (let i = 0; i < ids.length; i++) {
    if (o.special.has(ids[i]!) || rng.nextFloat() >= o.probability) continue;
    labels[i] = ids[i]!;
    const roll = rng.nextFloat();
    if (roll < 0.8) input[i] = o.maskId;
    else if (roll < 0.9) input[i] = rng.nextInt(o.vocabSize);
  }
  return { ids: input, labels };
}

/**
 * The masked titles of MNTP step `step`, drawn uniformly by (seed, step). A batch whose masks
 * left nothing to predict gets its longest title's last token chosen, so every step has a loss.
 */
export function mntpBatch(
  titles: readonly (readonly number[])[],
  o: {
    seed: number;
    step: number;
    batch: number;
    probability: number;
    maskId: number;
    vocabSize: number;
    special: ReadonlySet<number>;
  },
): LabelledTokens[] {
  const rng = new Rng(o.seed, 0x3a7e0000 + o.step);
  const rows: LabelledTokens[] = [];
  for (let i = 0; i < o.batch; i++) rows.push(maskTokens(titles[1 + rng.nextInt(titles.length - 1)]!, rng, o));
  if (!rows.some((r) => r.labels.some((v, j) => j > 0 && v !== IGNORE))) {
    const longest = rows.reduce((a, r) => (r.ids.length > a.ids.length ? r : a));
    const j = longest.ids.length - 1;
    if (j > 0) {
      longest.labels[j] = longest.ids[j]!;
      longest.ids[j] = o.maskId;
    }
  }
  return rows;
}

export const mntp = defineStage<LLM2RecConfig>({
  name: 'mntp',
  summary: 'masked next-token prediction on item titles with bidirectional attention',
  requires: ['csft'],
  async run(ctx) {
    const c = ctx.config;
    const { dataset } = await ctx.dataset();
    const texts = itemTexts(dataset);
    const lm = openLanguageModel(ctx.stageDir('csft'), ctx.device);
    try {
      const titles = tokenizeTexts(lm.tokenizer, texts, c.titleTokens);
      const maskId = maskTokenId(lm.tokenizer, c.maskToken);
      const special = new Set(lm.tokenizer.added.filter((t) => t.special).map((t) => t.id));
      const result = await trainForSteps(ctx, {
        what: 'MNTP',
        model: lm.model,
        steps: c.mntpSteps,
        lr: c.mntpLr,
        warmup: 0,
        checkpointEvery: c.checkpointEvery,
        batch: (step) =>
          mntpBatch(titles, {
            seed: ctx.seed,
            step,
            batch: c.mntpBatch,
            probability: c.maskProbability,
            maskId,
            vocabSize: lm.tokenizer.vocabSize,
            special,
          }),
        loss: (rows) => ({
          loss: labelledLoss(lm.model, rows, lm.padId, 'bidirectional'),
          tokens: rows.reduce((n, r) => n + r.ids.length, 0),
        }),
      });
      return { metrics: { ...result }, outputs: saveLanguageModel(ctx, lm) };
    } finally {
      lm.model.dispose();
    }
  },
});
