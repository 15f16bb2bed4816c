// Stage `eval`: Hit@1 among the target and `negatives` shuffled candidates, per test group, for
//   - A-LLMRec, free text: greedy decoding with repetition penalty 1.5; a hit when the target
//     title is a substring of the text between the first and last `"` (the paper's rule);
//   - A-LLMRec, constrained: decoding restricted to the candidates' quoted titles (a trie), so
//     the answer is always a candidate;
//   - SASRec: the candidate with the highest score;
//   - the LM given titles only (no soft tokens; zero-shot, constrained): the TALLRec-style baseline.
import { noGrad } from '../../autograd.js';
import type { SequenceDataset, SequenceSplit } from '../../data/dataset.js';
import { candidateSets } from '../../data/sampler.js';
import { answerSpan, titleHit } from '../../eval/metrics.js';
import { generate } from '../../llm/generate.js';
import { leftPad } from '../../models/recommender-model.js';
import { embedding } from '../../ops/embedding.js';
import { tidy } from '../../scope.js';
import { tensor } from '../../tensor.js';
import { ConfigError } from '../config.js';
import { loadConfiguredDataset } from '../data.js';
import { defineStage } from '../stage.js';
import { CROSS_EMBEDDED, type ALLMRecConfig } from './config.js';
import { loadStageTwo, type StageTwoModels } from './generate.js';
import { testSelection, type TestGroup } from './scenarios.js';
import { cfHistory, shownHistory, softPromptBatch, type PromptRow } from './soft-prompt.js';

export interface DecodeOptions {
  maxNewTokens: number;
  repetitionPenalty: number;
}

/** Free-text answers of A-LLMRec for `rows` (one batched greedy decode). */
export function freeAnswers(models: StageTwoModels, rows: readonly PromptRow[], options: DecodeOptions): string[] {
  const { lm } = models;
  return noGrad(() =>
    tidy(() => {
      const { prompts, soft } = softPromptBatch(models.context, rows);
      return generate(
        lm.model,
        prompts.map((p) => p.ids),
        {
          maxNewTokens: options.maxNewTokens,
          repetitionPenalty: options.repetitionPenalty,
          eosTokenIds: [lm.eos],
          padTokenId: lm.eos,
          softEmbeddings: soft,
          decoder: { decode: (ids) => lm.tokenizer.decode(ids, { skipSpecialTokens: true }) },
        },
      ).texts!;
    }),
  );
}

/**
 * The candidate each row's LM answer names under decoding constrained to the candidates' quoted
 * titles (an index into row.candidates; always one of them). `softTokens` false gives the
 * titles-only prompt. No repetition penalty: every candidate title is in the prompt, so the
 * penalty would only tilt the choice among them.
 */
export function constrainedAnswers(models: StageTwoModels, rows: readonly PromptRow[], softTokens: boolean): number[] {
  const { lm, context } = models;
  return rows.map((row) =>
    noGrad(() =>
      tidy(() => {
        const candidates = Array.from(row.candidates);
        const titles = candidates.map((i) => context.titles[i]!);
        let prompt: number[];
        let soft;
        if (softTokens) {
          const built = softPromptBatch(context, [row]);
          prompt = built.prompts[0]!.ids;
          soft = built.soft;
        } else {
          prompt = context.encoder.build(
            shownHistory(row.history, context.historyItems).map((i) => context.titles[i]!),
            titles,
            { softTokens: false, placeholder: lm.eos },
          ).ids;
        }
        const result = generate(lm.model, [prompt], {
          maxNewTokens: Math.max(...titles.map((t) => context.encoder.answer(t, lm.eos).length)) + 1,
          eosTokenIds: [lm.eos],
          candidates: titles.map((t) => context.encoder.encode(`"${t}"`)),
          softEmbeddings: soft,
        });
        const chosen = result.candidateIndex![0];
        if (chosen === null || chosen === undefined)
          throw new Error('constrained decoding ended without a candidate (maxNewTokens too small for the titles)');
        return chosen;
      }),
    ),
  );
}

/**
 * SASRec's choice among each row's candidates (an index into row.candidates; ties to the first).
 * Cross-domain, an item the SASRec never saw has no embedding: it ranks below every seen one.
 */
export function sasrecAnswers(models: StageTwoModels, rows: readonly PromptRow[]): number[] {
  const { cf } = models;
  const cfItems = models.context.cfItems;
  const maxlen = cf.config.maxlen;
  const input = new Int32Array(rows.length * maxlen);
  rows.forEach((row, r) => leftPad(cfHistory(row.history, cfItems), maxlen, input, r));
  const width = rows[0]?.candidates.length ?? 0;
  const ids = Int32Array.from(
    rows.flatMap((row) => Array.from(row.candidates, (item) => (cfItems ? cfItems[item]! : item))),
  );
  const scores = noGrad(() =>
    tidy(() => {
      const users = cf.userRepresentation(input, rows.length);
      const items = embedding(
        tensor(ids, { shape: [rows.length, width], dtype: 'i32', device: cf.device }),
        cf.itemEmbeddings(),
      );
      return items.mul(users.unsqueeze(1)).sum(2).dataSync();
    }),
  );
  ids.forEach((item, k) => {
    if (item === 0) scores[k] = -Infinity;
  });
  return rows.map((_, r) => {
    let best = 0;
    for (let j = 1; j < width; j++) if (scores[r * width + j]! > scores[r * width + best]!) best = j;
    return best;
  });
}

export interface GroupResult {
  users: number;
  /** Hit@1 of each method (the baselines null when not evaluated: --baselines false). */
  hit: { aLLMRec: number; aLLMRecConstrained: number; sasrec: number | null; titlesOnly: number | null };
  /** Free-text answers whose answer span names one of the candidates. */
  validRate: number;
}

export interface EvalResult {
  dataset: string;
  scenario: string;
  candidates: number;
  groups: Partial<Record<TestGroup, GroupResult>>;
  /** The first answers, for reading. */
  samples: { user: string; target: string; candidates: string[]; text: string; constrained: string; sasrec: string }[];
  seconds: number;
  /** Cross-domain: the dataset the stages trained on, and the test items the SASRec never saw. */
  crossDomain?: { trainedOn: string; unseenItems: number; items: number };
}

/** Evaluates every group of the scenario on the same candidates (one pass over their union). */
export async function evaluateALLMRec(
  config: ALLMRecConfig,
  split: SequenceSplit,
  models: StageTwoModels,
  seed: number,
  log: (message: string) => void = () => undefined,
): Promise<EvalResult> {
  const started = Date.now();
  const dataset = split.dataset;
  if (dataset.numItems < config.negatives + 1)
    throw new ConfigError(
      `${dataset.name} has ${dataset.numItems} items, fewer than the ${config.negatives + 1} candidates of a question; lower --negatives`,
    );
  const selection = testSelection(split, config.scenario, config.evalUsers, seed, models.context.cfItems);
  const union = Int32Array.from(new Set([...selection.values()].flatMap((u) => [...u]))).sort();
  let sets;
  try {
    sets = candidateSets(split, { stage: 'test', negatives: config.negatives, seed, users: union, shuffle: true });
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}; lower --negatives`);
  }
  const titles = models.context.titles;
  const perUser = new Map<
    number,
    { free: boolean; valid: boolean; constrained: boolean; sasrec: boolean; titlesOnly: boolean }
  >();
  const samples: EvalResult['samples'] = [];
  const decode = { maxNewTokens: config.maxNewTokens, repetitionPenalty: config.repetitionPenalty };
  for (let start = 0; start < union.length; start += config.evalBatchSize) {
    const users = union.subarray(start, start + config.evalBatchSize);
    const rows: PromptRow[] = Array.from(users, (user, i) => ({
      history: split.history(user, 'test'),
      target: split.target(user, 'test'),
      candidates: sets.candidates.subarray((start + i) * sets.width, (start + i + 1) * sets.width),
    }));
    const texts = freeAnswers(models, rows, decode);
    const constrained = constrainedAnswers(models, rows, true);
    const titlesOnly = config.baselines ? constrainedAnswers(models, rows, false) : null;
    const sasrec = config.baselines ? sasrecAnswers(models, rows) : null;
    rows.forEach((row, i) => {
      const target = titles[row.target]!;
      const titleOf = (j: number) => titles[row.candidates[j]!]!;
      const span = answerSpan(texts[i]!);
      perUser.set(users[i]!, {
        free: titleHit(texts[i]!, target),
        valid: Array.from(row.candidates).some((item) => span.includes(titles[item]!.trim().toLowerCase())),
        constrained: titleOf(constrained[i]!) === target,
        sasrec: sasrec ? titleOf(sasrec[i]!) === target : false,
        titlesOnly: titlesOnly ? titleOf(titlesOnly[i]!) === target : false,
      });
      if (samples.length < 20)
        samples.push({
          user: dataset.userKeys[users[i]!]!,
          target,
          candidates: Array.from(row.candidates, (item) => titles[item]!),
          text: texts[i]!,
          constrained: titleOf(constrained[i]!),
          sasrec: sasrec ? titleOf(sasrec[i]!) : '',
        });
    });
    log(`a-llmrec eval: ${Math.min(union.length, start + config.evalBatchSize)}/${union.length} users`);
  }
  const groups: EvalResult['groups'] = {};
  for (const [group, users] of selection) {
    const mean = (
      pick: (r: {
        free: boolean;
        valid: boolean;
        constrained: boolean;
        sasrec: boolean;
        titlesOnly: boolean;
      }) => boolean,
    ) => users.reduce((n, u) => n + (pick(perUser.get(u)!) ? 1 : 0), 0) / users.length;
    groups[group] = {
      users: users.length,
      hit: {
        aLLMRec: mean((r) => r.free),
        aLLMRecConstrained: mean((r) => r.constrained),
        sasrec: config.baselines ? mean((r) => r.sasrec) : null,
        titlesOnly: config.baselines ? mean((r) => r.titlesOnly) : null,
      },
      validRate: mean((r) => r.valid),
    };
  }
  return {
    dataset: dataset.name,
    scenario: config.scenario,
    candidates: config.negatives + 1,
    groups,
    samples,
    seconds: (Date.now() - started) / 1000,
  };
}

/** The test dataset of the cross-domain scenario: --cross-data, read like --data (its own format detected). */
export function loadCrossDataset(c: ALLMRecConfig): Promise<{ dataset: SequenceDataset }> {
  const embedded = c.crossData === CROSS_EMBEDDED;
  if (!c.crossData) throw new ConfigError('--scenario cross-domain needs --cross-data (a dataset, or 2009-2010)');
  return loadConfiguredDataset({
    ...c,
    data: embedded ? undefined : c.crossData,
    period: embedded ? CROSS_EMBEDDED : c.period,
    format: 'auto',
    meta: undefined,
    itemFile: undefined,
    dataName: undefined,
  });
}

export const evalStage = defineStage<ALLMRecConfig, EvalResult>({
  name: 'eval',
  summary: 'Hit@1 among the candidates: A-LLMRec (free text and constrained), SASRec, titles-only LM',
  requires: ['cf', 'align', 'generate'],
  async run(ctx) {
    // Cross-domain: the stages trained on --data; the test users and items are --cross-data's.
    const cross = ctx.config.scenario === 'cross-domain';
    const { dataset } = cross ? await loadCrossDataset(ctx.config) : await ctx.dataset();
    const split = dataset.split();
    const models = await loadStageTwo(
      ctx.config,
      ctx.stageDir,
      ctx.device,
      ctx.stageDir('generate'),
      cross ? dataset : undefined,
    );
    try {
      const result = await evaluateALLMRec(ctx.config, split, models, ctx.seed, ctx.log);
      if (cross) {
        const { dataset: trained } = await ctx.dataset();
        const unseen = models.context.cfItems!.reduce((n, id, i) => n + (i > 0 && id === 0 ? 1 : 0), 0);
        result.crossDomain = { trainedOn: trained.name, unseenItems: unseen, items: dataset.numItems };
      }
      ctx.writeJson('results.json', result);
      const metrics = Object.fromEntries(
        Object.entries(result.groups).map(([group, g]) => [
          group,
          { users: g.users, ...g.hit, validRate: g.validRate },
        ]),
      );
      return { metrics, outputs: ['results.json'], result };
    } finally {
      models.dispose();
    }
  },
});
