// Stage `generate` (stage 2): F_U and F_I learn to prompt the frozen LM. Each training user's
// last training item is the target among `negatives` + 1 shuffled candidates; the loss is the
// LM's cross-entropy on `"target title"` + EOS only. The LM, the SASRec and the encoders are
// frozen; Adam 1e-4.
import type { SequenceSplit } from '../../data/dataset.js';
import { hash32, Rng } from '../../data/rng.js';
import { candidateSets, stageTarget } from '../../data/sampler.js';
import type { SavedModelConfig } from '../../models/factory.js';
import type { SequenceRecommender } from '../../models/recommender-model.js';
import { Adam } from '../../optim/adam.js';
import { manualSeed, type Tensor } from '../../tensor.js';
import { loadModel, readModelConfig, saveModel } from '../../train/checkpoint.js';
import { train } from '../../train/trainer.js';
import { ConfigError } from '../config.js';
import { defineStage } from '../stage.js';
import { loadAlignStage } from './align.js';
import { loadCfStage } from './cf.js';
import type { ALLMRecConfig } from './config.js';
import { languageModelDir, loadFrozenLanguageModel, type FrozenLanguageModel } from './language-model.js';
import { SoftPromptProjectors } from './model.js';
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

/**
 * Loads the SASRec (with its catalogue), the aligner's latents and the LM of a run folder's
 * stages, with new projectors or the saved ones of `projectorsFrom`.
 */
export async function loadStageTwo(
  config: Pick<ALLMRecConfig, 'lm' | 'textOnlyBelow' | 'historyItems'>,
  stageDir: (stage: string) => string,
  device: string,
  projectorsFrom?: string,
): Promise<StageTwoModels> {
  const { model: cf, catalogue } = await loadCfStage(stageDir('cf'), device);
  const { aligner, textTable } = loadAlignStage(stageDir('align'), device);
  let lm: FrozenLanguageModel | undefined;
  let latents: Tensor | undefined;
  let projectors: SoftPromptProjectors | undefined;
  try {
    latents = itemLatentTable(cf, aligner, textTable, catalogue.popularity, config.textOnlyBelow);
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
    titles: promptTitles(catalogue),
    historyItems: config.historyItems,
    placeholder: lm.eos,
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
