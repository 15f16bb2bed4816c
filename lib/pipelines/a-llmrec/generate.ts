// Stage `generate` (stage 2): F_U and F_I learn to prompt the frozen LM. Each training user's
// last training item is the target among `negatives` + 1 shuffled candidates; the loss is the
// LM's cross-entropy on `"target title"` + EOS only. The LM, the SASRec and the encoders are
// frozen; Adam 1e-4.
import { noGrad } from '../../autograd.js';
import type { SequenceDataset, SequenceSplit } from '../../data/dataset.js';
import { hash32, Rng } from '../../data/rng.js';
import { candidateSets, stageTarget } from '../../data/sampler.js';
import type { SavedModelConfig } from '../../models/factory.js';
import type { SequenceRecommender } from '../../models/recommender-model.js';
import { Adam } from '../../optim/adam.js';
import { embedding } from '../../ops/embedding.js';
import { concat } from '../../ops/layout.js';
import { tidy } from '../../scope.js';
import { manualSeed, tensor, type Tensor } from '../../tensor.js';
import { loadModel, readModelConfig, saveModel } from '../../train/checkpoint.js';
import { train } from '../../train/trainer.js';
import { ConfigError } from '../config.js';
import { defineStage } from '../stage.js';
import { loadAlignStage } from './align.js';
import { loadCfStage } from './cf.js';
import type { ALLMRecConfig } from './config.js';
import {
  itemTextVectors,
  languageModelDir,
  loadFrozenLanguageModel,
  stageOneTexts,
  type FrozenLanguageModel,
  type TextEncoderSpec,
} from './language-model.js';
import { SoftPromptProjectors, type ItemTextAligner } from './model.js';
import { PromptEncoder } from './prompt.js';
import { trainingUsers } from './scenarios.js';
import {
  itemLatentTable,
  promptTitles,
  softPromptBatch,
  type PromptRow,
  type SoftPromptContext,
} from './soft-prompt.js';

/** Everything stages 2 and eval hold while they run; dispose() frees it. */
export interface StageTwoModels {
  cf: SequenceRecommender;
  /** The SASRec's catalogue: item keys, titles and training popularity, by item id. */
  catalogue: NonNullable<SavedModelConfig['dataset']>;
  lm: FrozenLanguageModel;
  latents: Tensor;
  textTable: Tensor;
  projectors: SoftPromptProjectors;
  context: SoftPromptContext;
  dispose(): void;
}

/** Items of another dataset as a trained run sees them (the cross-domain scenario). */
export interface CrossDomainView {
  /** The SASRec's item id of each item id of `dataset`, 0 for an item it never saw. */
  cfItems: Int32Array;
  /** Item ids of `dataset` the SASRec never saw (their latent is the text latent). */
  unseen: number[];
}

/** Matches another dataset's items to the SASRec's by item key. */
export function crossDomainItems(
  catalogue: { itemKeys: readonly string[] },
  dataset: SequenceDataset,
): CrossDomainView {
  const known = new Map<string, number>();
  catalogue.itemKeys.forEach((key, id) => id > 0 && known.set(key, id));
  const cfItems = new Int32Array(dataset.numItems + 1);
  const unseen: number[] = [];
  for (let id = 1; id <= dataset.numItems; id++) {
    cfItems[id] = known.get(dataset.itemKeys[id]!) ?? 0;
    if (cfItems[id] === 0) unseen.push(id);
  }
  return { cfItems, unseen };
}

/**
 * The joint latent of every item of another dataset [numItems + 1, latent]: a seen item keeps the
 * run's latent (its SASRec item latent, or its text latent under the text-only rule); an unseen
 * one gets the text latent of its text, embedded by the run's text encoder (the paper's
 * text-only variant: nothing collaborative is known about it).
 */
export function crossDomainLatents(
  trainLatents: Tensor,
  aligner: ItemTextAligner,
  textEncoder: TextEncoderSpec | null,
  dataset: SequenceDataset,
  view: CrossDomainView,
  device: string,
): Tensor {
  let extra: Tensor | undefined;
  if (view.unseen.length > 0) {
    if (!textEncoder)
      throw new Error(
        "a-llmrec: this run's align stage does not record its text encoder, so items unseen in training cannot be embedded; rerun the align stage",
      );
    const texts = stageOneTexts(dataset);
    const { vectors, dim } = itemTextVectors(
      textEncoder,
      view.unseen.map((id) => texts[id]!),
      device,
    );
    if (dim !== aligner.textDim)
      throw new Error(
        `a-llmrec: the text encoder ${textEncoder.dir} is ${dim} wide but the run's text autoencoder takes ${aligner.textDim}; rerun the align stage`,
      );
    extra = noGrad(() => aligner.text.encode(tensor(vectors, { shape: [view.unseen.length, dim], device })));
  }
  try {
    return noGrad(() =>
      tidy(() => {
        const numTrain = trainLatents.shape[0]!;
        const index = Int32Array.from(view.cfItems);
        view.unseen.forEach((id, k) => (index[id] = numTrain + k));
        const table = extra ? concat([trainLatents, extra], 0) : trainLatents;
        return embedding(tensor(index, { dtype: 'i32', device }), table);
      }),
    );
  } finally {
    extra?.dispose();
  }
}

/**
 * Loads the SASRec (with its catalogue), the aligner's latents and the LM of a run folder's
 * stages, with new projectors or the saved ones of `projectorsFrom`. With `domain` (the
 * cross-domain scenario), the prompts, latents and titles are those of that dataset's items.
 */
export async function loadStageTwo(
  config: Pick<ALLMRecConfig, 'lm' | 'textOnlyBelow' | 'historyItems'>,
  stageDir: (stage: string) => string,
  device: string,
  projectorsFrom?: string,
  domain?: SequenceDataset,
): Promise<StageTwoModels> {
  const { model: cf, catalogue } = await loadCfStage(stageDir('cf'), device);
  const { aligner, textTable, textEncoder } = loadAlignStage(stageDir('align'), device);
  let lm: FrozenLanguageModel | undefined;
  let latents: Tensor | undefined;
  let projectors: SoftPromptProjectors | undefined;
  let view: CrossDomainView | undefined;
  try {
    latents = itemLatentTable(cf, aligner, textTable, catalogue.popularity, config.textOnlyBelow);
    if (domain) {
      view = crossDomainItems(catalogue, domain);
      const own = latents;
      latents = crossDomainLatents(own, aligner, textEncoder, domain, view, device);
      own.dispose();
    }
    lm = loadFrozenLanguageModel(languageModelDir(config.lm), device);
    const lmDim = lm.model.config.hiddenSize;
    if (projectorsFrom) {
      const saved = readModelConfig(projectorsFrom) as { cfDim: number; latentDim: number; lmDim: number };
      if (saved.lmDim !== lmDim)
        throw new ConfigError(
          `${projectorsFrom} projects into a ${saved.lmDim}-wide LM but --lm ${lm.dir} is ${lmDim} wide; rerun the generate stage`,
        );
      projectors = new SoftPromptProjectors(saved.cfDim, saved.latentDim, saved.lmDim, { device });
      loadModel(projectorsFrom, projectors);
      projectors.freeze().eval();
    } else {
      projectors = new SoftPromptProjectors(cf.config.hidden, aligner.latentDim, lmDim, { device });
    }
  } catch (error) {
    projectors?.dispose();
    lm?.dispose();
    latents?.dispose();
    textTable.dispose();
    cf.dispose();
    throw error;
  } finally {
    aligner.dispose();
  }
  const context: SoftPromptContext = {
    cf,
    projectors,
    latents,
    encoder: new PromptEncoder(lm.tokenizer),
    titles: promptTitles(domain ? { itemKeys: domain.itemKeys, titles: domain.titles } : catalogue),
    historyItems: config.historyItems,
    placeholder: lm.eos,
    ...(view ? { cfItems: view.cfItems } : {}),
  };
  const held = { cf, lm, latents, textTable, projectors };
  return {
    ...held,
    catalogue,
    context,
    dispose() {
      held.projectors.dispose();
      held.lm.dispose();
      held.latents.dispose();
      held.textTable.dispose();
      held.cf.dispose();
    },
  };
}

/** One epoch's training questions: users shuffled by (seed, epoch), fresh shuffled candidates. */
export function* trainingRows(
  split: SequenceSplit,
  users: Int32Array,
  negatives: number,
  batchSize: number,
  epoch: number,
  seed: number,
): Generator<PromptRow[]> {
  const order = users.slice();
  new Rng(seed, hash32(epoch, 0x2b)).shuffle(order);
  const sets = candidateSets(split, {
    stage: 'train',
    negatives,
    seed: hash32(seed, epoch, 0x2c),
    users: order,
    shuffle: true,
  });
  for (let start = 0; start < order.length; start += batchSize) {
    const rows: PromptRow[] = [];
    for (let r = start; r < Math.min(order.length, start + batchSize); r++) {
      const { target, history } = stageTarget(split, order[r]!, 'train');
      rows.push({ history, target, candidates: sets.candidates.subarray(r * sets.width, (r + 1) * sets.width) });
    }
    yield rows;
  }
}

/** The LM loss on the answers of `rows` (CE on `"title"` + EOS only). */
export function answerLoss(models: StageTwoModels, rows: readonly PromptRow[]): Tensor {
  const { lm, context } = models;
  const { prompts, soft } = softPromptBatch(context, rows);
  const sequences = prompts.map((p, r) => ({
    prompt: p.ids,
    answer: context.encoder.answer(context.titles[rows[r]!.target]!, lm.eos),
  }));
  const width = Math.max(...sequences.map((s) => s.prompt.length + s.answer.length));
  const ids = new Int32Array(rows.length * width).fill(lm.eos);
  const labels = new Int32Array(rows.length * width).fill(-100);
  const lengths = sequences.map(({ prompt, answer }, r) => {
    ids.set(prompt, r * width);
    ids.set(answer, r * width + prompt.length);
    labels.set(answer, r * width + prompt.length);
    return prompt.length + answer.length;
  });
  return lm.model.forward({ inputIds: ids, shape: [rows.length, width], lengths, softEmbeddings: soft, labels }).loss!;
}

export const generateStage = defineStage<ALLMRecConfig>({
  name: 'generate',
  summary: 'stage 2: train F_U and F_I so the frozen LM names the next item among the candidates',
  requires: ['cf', 'align'],
  async run(ctx) {
    const c = ctx.config;
    const { dataset } = await ctx.dataset();
    const split = dataset.split();
    const users = trainingUsers(split, c.scenario, c.trainUsers, ctx.seed);
    manualSeed(ctx.seed);
    const models = await loadStageTwo(c, ctx.stageDir, ctx.device);
    const optimizer = new Adam(models.projectors.trainableParameters(), { lr: c.generateLr, betas: [0.9, 0.98] });
    try {
      const result = await train({
        model: models.projectors,
        optimizer,
        batches: (epoch, seed) => trainingRows(split, users, c.negatives, c.generateBatchSize, epoch, seed),
        batchesPerEpoch: Math.ceil(users.length / c.generateBatchSize),
        loss: (rows) => answerLoss(models, rows),
        epochs: c.generateEpochs,
        seed: ctx.seed,
        checkpoint: { dir: ctx.checkpoints, everySteps: 50 },
        resume: ctx.resume,
        progress: ctx.progress,
      });
      if (result.stopReason === 'non-finite')
        throw new Error(`generate diverged (${result.nonFinite}); nothing was saved: try a lower --generate-lr`);
      const p = models.projectors;
      saveModel(ctx.dir, p, { cfDim: p.cfDim, latentDim: p.latentDim, lmDim: p.lmDim });
      return {
        metrics: {
          epochs: result.epochs,
          steps: result.steps,
          users: users.length,
          loss: result.history.map((h) => h.loss),
        },
        outputs: ['model.safetensors', 'config.json'],
      };
    } finally {
      optimizer.dispose();
      models.dispose();
    }
  },
});
