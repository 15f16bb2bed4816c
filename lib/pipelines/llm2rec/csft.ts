// Stage 1, collaborative supervised fine-tuning (CSFT): the LM reads a user's last history titles
// joined by ", " and learns to write the next item's title + "\n" + EOS. Cross-entropy on the
// target tokens only, full fine-tuning with AdamW, warm-up then linear decay, prompts
// left-truncated. The result is a Hugging Face folder: <run>/csft/.
import type { SequenceSplit } from '../../data/dataset.js';
import { Rng } from '../../data/rng.js';
import type { CausalLM } from '../../llm/model.js';
import type { Tokenizer } from '../../llm/tokenizer.js';
import { tensor, type Tensor } from '../../tensor.js';
import { defineStage } from '../stage.js';
import type { LLM2RecConfig } from './config.js';
import { itemTexts, languageModelDir, openLanguageModel, padRows, saveLanguageModel } from './language-model.js';
import { trainForSteps } from './training.js';

/** Ignored label (HF's -100). */
export const IGNORE = -100;

/** A tokenised example: prompt then target tokens, and labels that are IGNORE on the prompt. */
export interface LabelledTokens {
  ids: number[];
  labels: number[];
}

/**
 * One CSFT example. The prompt is the history titles joined by ", " with a trailing ","; the
 * target continues the list: " " + next title + "\n", then EOS. The full text is tokenised at
 * once (so the tokens at the boundary are those the LM would see), the prompt's tokens get no
 * label, and tokens are dropped from the left when the example exceeds `maxTokens`.
 */
export function csftExample(
  tokenizer: Tokenizer,
  history: readonly string[],
  target: string,
  eosId: number,
  maxTokens: number,
): LabelledTokens {
  const prompt = history.join(', ') + ',';
  const promptLength = tokenizer.encode(prompt).length;
  const ids = [...tokenizer.encode(`${prompt} ${target}\n`), eosId];
  const labels = ids.map((id, i) => (i < promptLength ? IGNORE : id));
  const cut = Math.max(0, ids.length - maxTokens);
  return { ids: ids.slice(cut), labels: labels.slice(cut) };
}

/** Every (user, position) of the training items that has at least one item before it. */
export function csftPairs(split: SequenceSplit): { users: Int32Array; positions: Int32Array } {
  const users: number[] = [];
  const positions: number[] = [];
  for (let u = 1; u <= split.dataset.numUsers; u++) {
    const n = split.train(u).length;
    for (let t = 1; t < n; t++) {
      users.push(u);
      positions.push(t);
    }
  }
  return { users: Int32Array.from(users), positions: Int32Array.from(positions) };
}

/** The examples of CSFT step `step`: `batch` pairs drawn uniformly (with replacement) by (seed, step). */
export function csftBatch(
  split: SequenceSplit,
  pairs: { users: Int32Array; positions: Int32Array },
  texts: readonly string[],
  tokenizer: Tokenizer,
  o: { seed: number; step: number; batch: number; historyItems: number; maxTokens: number; eosId: number },
): LabelledTokens[] {
  const rng = new Rng(o.seed, 0xc5f7 + o.step);
  const out: LabelledTokens[] = [];
  for (let i = 0; i < o.batch; i++) {
    const k = rng.nextInt(pairs.users.length);
    const items = split.train(pairs.users[k]!);
    const t = pairs.positions[k]!;
    const history = Array.from(items.subarray(Math.max(0, t - o.historyItems), t), (id) => texts[id]!);
    out.push(csftExample(tokenizer, history, texts[items[t]!]!, o.eosId, o.maxTokens));
  }
  return out;
}

/** The mean cross-entropy of labelled rows (shifted: position j predicts label j + 1), right-padded. */
export function labelledLoss(
  model: CausalLM,
  rows: readonly LabelledTokens[],
  padId: number,
  attention: 'causal' | 'bidirectional',
): Tensor {
  const { ids, lengths, b, l } = padRows(
    rows.map((r) => r.ids),
    padId,
  );
  const labels = new Int32Array(b * l).fill(IGNORE);
  rows.forEach((r, i) => labels.set(r.labels, i * l));
  if (!labels.some((v) => v !== IGNORE))
    throw new Error('llm2rec: a batch has no labelled token (every target was truncated away); raise --max-tokens');
  return model.forward({
    inputIds: tensor(ids, { shape: [b, l], dtype: 'i32', device: model.device }),
    lengths,
    labels,
    shape: [b, l],
    attention,
  }).loss!;
}

export const csft = defineStage<LLM2RecConfig>({
  name: 'csft',
  summary: 'collaborative supervised fine-tuning: history titles → next title, CE on the target',
  requires: [],
  async run(ctx) {
    const c = ctx.config;
    const { dataset } = await ctx.dataset();
    const texts = itemTexts(dataset);
    const split = dataset.split();
    const pairs = csftPairs(split);
    if (pairs.users.length === 0)
      throw new Error(
        `llm2rec csft: ${dataset.name} has no user with two training items; CSFT has nothing to learn from`,
      );
    const lm = openLanguageModel(languageModelDir(c.lm), ctx.device);
    try {
      const result = await trainForSteps(ctx, {
        what: 'CSFT',
        model: lm.model,
        steps: c.csftSteps,
        lr: c.csftLr,
        warmup: c.csftWarmup,
        checkpointEvery: c.checkpointEvery,
        batch: (step) =>
          csftBatch(split, pairs, texts, lm.tokenizer, {
            seed: ctx.seed,
            step,
            batch: c.csftBatch,
            historyItems: c.historyItems,
            maxTokens: c.maxTokens,
            eosId: lm.eosId,
          }),
        loss: (rows) => ({
          loss: labelledLoss(lm.model, rows, lm.padId, 'causal'),
          tokens: rows.reduce((n, r) => n + r.ids.length, 0),
        }),
      });
      const outputs = saveLanguageModel(ctx, lm);
      return { metrics: { ...result, examples: pairs.users.length }, outputs };
    } finally {
      lm.model.dispose();
    }
  },
});
