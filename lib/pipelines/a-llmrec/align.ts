// Stage `align` (stage 1): the item autoencoder and the text autoencoder learn a joint latent on
// the last training position of each user with one negative, against the frozen SASRec:
// L = L_rec + L_matching + β·L_item-recon + 0.2·L_text-recon; Adam 1e-4, betas 0.9/0.98, batch 32.
// The text encoder (the --lm, another HF folder, or an LLM2Rec run's item encoder) is frozen, or
// with --tune-text-encoder fine-tuned by the same loss, as the paper fine-tunes SBERT: then each
// batch's item texts go through it with gradients, and the tuned encoder is saved in
// align/text-encoder/. Either way align/text-embeddings.safetensors holds the final text table.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { noGrad } from '../../autograd.js';
import type { SequenceDataset, SequenceSplit } from '../../data/dataset.js';
import { trainingBatches } from '../../data/sampler.js';
import { saveSafetensorsSync, loadSafetensors } from '../../io/safetensors.js';
import type { SequenceRecommender } from '../../models/recommender-model.js';
import { embedding } from '../../ops/embedding.js';
import { Adam } from '../../optim/adam.js';
import { tidy } from '../../scope.js';
import { manualSeed, tensor, type Tensor } from '../../tensor.js';
import { loadModel, readModelConfig, saveModel } from '../../train/checkpoint.js';
import { writeFileAtomicSync } from '../../io/atomic.js';
import { loadLanguageModel } from '../../llm/default-model.js';
import { TextEmbedder } from '../../llm/embedder.js';
import { saveCausalLM } from '../../llm/loader.js';
import { poolHidden, type CausalLM } from '../../llm/model.js';
import type { Tokenizer } from '../../llm/tokenizer.js';
import { Module } from '../../nn/module.js';
import { ITEM_IDS_FILE, readItemTable, type ItemTable } from '../llm2rec/embed.js';
import { readRunManifest } from '../run-folder.js';
import { train } from '../../train/trainer.js';
import { defineStage } from '../stage.js';
import { loadCfStage } from './cf.js';
import type { ALLMRecConfig } from './config.js';
import { itemTextVectors, resolveTextEncoder, stageOneTexts, type TextEncoderSpec } from './language-model.js';
import { alignmentLoss, ItemTextAligner, type AlignmentBatch, type AlignmentLossWeights } from './model.js';

export const TEXT_EMBEDDINGS_FILE = 'text-embeddings.safetensors';

/**
 * Row i: item i's text embedding (row 0, padding, is zeros): [numItems + 1, d_text]. An LLM2Rec
 * run whose embed stage covered this dataset's items gives its table as it is (the same
 * encoder, pooling and texts as embedding them here).
 */
export function itemTextEmbeddings(spec: TextEncoderSpec, dataset: SequenceDataset, device: string): Tensor {
  if (spec.llm2recRun) {
    const table = llm2recItemTable(spec.llm2recRun, dataset);
    if (table) return tensor(table.rows, { shape: [table.numItems + 1, table.dim], device });
  }
  const { vectors, dim } = itemTextVectors(spec, stageOneTexts(dataset).slice(1), device);
  const rows = new Float32Array((dataset.numItems + 1) * dim);
  rows.set(vectors, dim);
  return tensor(rows, { shape: [dataset.numItems + 1, dim], device });
}

/** The item table of an LLM2Rec run's embed stage, when it was made for exactly these items. */
export function llm2recItemTable(run: string, dataset: SequenceDataset): ItemTable | null {
  const manifest = readRunManifest(run);
  if (manifest?.stages.embed?.status !== 'done') return null;
  const embedDir = path.join(run, 'embed');
  const idsFile = path.join(embedDir, ITEM_IDS_FILE);
  if (!fs.existsSync(idsFile)) return null;
  const { itemKeys } = JSON.parse(fs.readFileSync(idsFile, 'utf-8')) as { itemKeys?: string[] };
  const same = itemKeys?.length === dataset.itemKeys.length && itemKeys.every((k, i) => k === dataset.itemKeys[i]);
  if (!same) return null;
  // LLM2Rec embeds dataset.texts; stage 1 falls back to the title or key for an item without text.
  if (dataset.itemKeys.some((_, i) => i > 0 && !dataset.texts[i])) return null;
  return readItemTable(embedDir);
}

/** Stage 1's model when the text encoder is fine-tuned: the aligner and the encoder train together. */
export class TunedTextAligner extends Module {
  declare readonly aligner: ItemTextAligner;
  declare readonly encoder: CausalLM;
  constructor(
    aligner: ItemTextAligner,
    encoder: CausalLM,
    readonly tokenizer: Tokenizer,
    readonly spec: TextEncoderSpec,
  ) {
    super();
    this.registerModule('aligner', aligner);
    this.registerModule('encoder', encoder);
  }

  /** The text embeddings of `items` [rows, d_text], differentiable in the encoder's weights. */
  embed(items: Int32Array, texts: readonly string[]): Tensor {
    const rows = Array.from(items, (item) => this.tokenizer.encode(texts[item]!).slice(0, this.spec.maxTokens));
    const pad = this.tokenizer.padTokenId ?? this.tokenizer.eosTokenId ?? 0;
    const b = rows.length;
    const l = Math.max(1, ...rows.map((r) => r.length));
    const ids = new Int32Array(b * l).fill(pad);
    const lengths = new Int32Array(b);
    rows.forEach((row, r) => {
      const tokens = row.length > 0 ? row : [pad];
      ids.set(tokens, r * l);
      lengths[r] = tokens.length;
    });
    const { lastHiddenState } = this.encoder.forward({
      inputIds: ids,
      shape: [b, l],
      lengths,
      attention: this.spec.attention,
      logits: 'none',
    });
    return poolHidden(lastHiddenState, { mode: 'mean', lengths });
  }
}

/** The last training position of each user in a batch: (input, positive, negative) per row. */
export interface LastPositionBatch {
  rows: number;
  input: Int32Array;
  positive: Int32Array;
  negative: Int32Array;
}

/** Stage 1's batches of an epoch (they depend only on (epoch, seed): exact resume). */
export function* lastPositionBatches(
  split: SequenceSplit,
  maxlen: number,
  batchSize: number,
  epoch: number,
  seed: number,
): Generator<LastPositionBatch> {
  for (const b of trainingBatches(split, { maxlen, batchSize, seed, epoch })) {
    const last = (values: Int32Array) =>
      Int32Array.from({ length: b.batchSize }, (_, r) => values[r * maxlen + maxlen - 1]!);
    yield { rows: b.batchSize, input: b.input, positive: last(b.positive), negative: last(b.negative) };
  }
}

/**
 * The tensors of one stage-1 batch from the frozen SASRec and the text table, or (fine-tuning)
 * the text embeddings from the tuned encoder, with gradients.
 */
export function alignmentInputs(
  cf: SequenceRecommender,
  textTable: Tensor,
  batch: LastPositionBatch,
  tuned?: { model: TunedTextAligner; texts: readonly string[] },
): AlignmentBatch {
  const fixed = noGrad(() => {
    const ids = (values: Int32Array) => tensor(values, { dtype: 'i32', device: cf.device });
    const items = cf.itemEmbeddings();
    return {
      user: cf.userRepresentation(batch.input, batch.rows),
      positiveItem: embedding(ids(batch.positive), items),
      negativeItem: embedding(ids(batch.negative), items),
      ...(tuned
        ? {}
        : {
            positiveText: embedding(ids(batch.positive), textTable),
            negativeText: embedding(ids(batch.negative), textTable),
          }),
    };
  });
  if (!tuned) return fixed as AlignmentBatch;
  return {
    ...fixed,
    positiveText: tuned.model.embed(batch.positive, tuned.texts),
    negativeText: tuned.model.embed(batch.negative, tuned.texts),
  };
}

/** Mean of each loss term over every user's last position (epoch-0 negatives). */
function alignmentTerms(
  aligner: ItemTextAligner,
  cf: SequenceRecommender,
  textTable: Tensor,
  split: SequenceSplit,
  weights: AlignmentLossWeights,
  seed: number,
): Record<string, number> {
  const sums = { total: 0, rec: 0, matching: 0, itemRecon: 0, textRecon: 0 };
  let rows = 0;
  aligner.eval();
  noGrad(() => {
    for (const batch of lastPositionBatches(split, cf.config.maxlen, 256, 0, seed)) {
      tidy(() => {
        const terms = alignmentLoss(aligner, alignmentInputs(cf, textTable, batch), weights);
        for (const key of Object.keys(sums) as (keyof typeof sums)[]) sums[key] += terms[key].item() * batch.rows;
      });
      rows += batch.rows;
    }
  });
  return Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, rows ? v / rows : NaN]));
}

/** The text encoder an align stage used, as its config.json records it (a tuned one in align/text-encoder). */
export interface SavedTextEncoder {
  dir: string;
  attention: 'causal' | 'bidirectional';
  pooling: 'mean';
  maxTokens: number;
  tuned: boolean;
}

export const TUNED_ENCODER_DIR = 'text-encoder';

/** The stage's aligner (weights loaded), in eval mode, with the text table it was trained with and its text encoder. */
export function loadAlignStage(
  dir: string,
  device: string,
): { aligner: ItemTextAligner; textTable: Tensor; textEncoder: TextEncoderSpec | null } {
  const textTable = loadSafetensors(path.join(dir, TEXT_EMBEDDINGS_FILE), { device }).get('text');
  if (!textTable) throw new Error(`${dir}/${TEXT_EMBEDDINGS_FILE} has no 'text' tensor; rerun the align stage`);
  const config = readModelConfig(dir) as {
    cfDim: number;
    textDim: number;
    latentDim: number;
    textEncoder?: SavedTextEncoder;
  };
  const aligner = new ItemTextAligner(config.cfDim, config.textDim, config.latentDim, { device });
  loadModel(dir, aligner);
  aligner.freeze().eval();
  const saved = config.textEncoder;
  const textEncoder: TextEncoderSpec | null = saved
    ? {
        dir: saved.tuned ? path.join(dir, TUNED_ENCODER_DIR) : saved.dir,
        attention: saved.attention,
        pooling: saved.pooling,
        maxTokens: saved.maxTokens,
      }
    : null;
  return { aligner, textTable, textEncoder };
}

export const alignStage = defineStage<ALLMRecConfig>({
  name: 'align',
  summary: 'stage 1: align SASRec item embeddings and item-text embeddings with two autoencoders',
  requires: ['cf'],
  async run(ctx) {
    const c = ctx.config;
    const { dataset } = await ctx.dataset();
    const split = dataset.split();
    const spec = resolveTextEncoder(c.textEncoder, c.lm);
    const { model: cf } = await loadCfStage(ctx.stageDir('cf'), ctx.device);
    let textTable = itemTextEmbeddings(spec, dataset, ctx.device);
    const weights = { itemRecon: c.itemReconWeight, textRecon: c.textReconWeight };
    manualSeed(ctx.seed);
    const aligner = new ItemTextAligner(cf.config.hidden, textTable.shape[1]!, c.latentDim, { device: ctx.device });
    let tuned: { model: TunedTextAligner; texts: string[] } | undefined;
    if (c.tuneTextEncoder) {
      const { model: encoder, tokenizer } = loadLanguageModel(spec.dir, { device: ctx.device, dtype: 'f32' });
      tuned = { model: new TunedTextAligner(aligner, encoder, tokenizer, spec), texts: stageOneTexts(dataset) };
    }
    const model: Module = tuned?.model ?? aligner;
    const optimizer = new Adam(model.trainableParameters(), { lr: c.alignLr, betas: [0.9, 0.98] });
    try {
      const result = await train({
        model,
        optimizer,
        batches: (epoch, seed) => lastPositionBatches(split, cf.config.maxlen, c.alignBatchSize, epoch, seed),
        loss: (batch) => alignmentLoss(aligner, alignmentInputs(cf, textTable, batch, tuned), weights).total,
        epochs: c.alignEpochs,
        seed: ctx.seed,
        checkpoint: { dir: ctx.checkpoints },
        resume: ctx.resume,
        progress: ctx.progress,
      });
      if (result.stopReason === 'non-finite')
        throw new Error(`align diverged (${result.nonFinite}); nothing was saved: try a lower --align-lr`);
      const outputs = ['model.safetensors', 'config.json', TEXT_EMBEDDINGS_FILE];
      if (tuned) {
        // The table of the tuned encoder, and the encoder itself (a HF folder) for items met later.
        const encoder = tuned.model.encoder;
        encoder.eval();
        const embedder = new TextEmbedder(encoder, tuned.model.tokenizer, {
          attention: spec.attention,
          pooling: spec.pooling,
          maxTokens: spec.maxTokens,
          batchTokens: Math.max(4096, spec.maxTokens),
        });
        const vectors = noGrad(() => embedder.embed(stageOneTexts(dataset).slice(1)));
        const dim = textTable.shape[1]!;
        const rows = new Float32Array((dataset.numItems + 1) * dim);
        rows.set(vectors, dim);
        textTable.dispose();
        textTable = tensor(rows, { shape: [dataset.numItems + 1, dim], device: ctx.device });
        const encoderDir = path.join(ctx.dir, TUNED_ENCODER_DIR);
        saveCausalLM(encoderDir, encoder, { dtype: 'f32' });
        const tokenizer = tuned.model.tokenizer;
        writeFileAtomicSync(path.join(encoderDir, 'tokenizer.json'), [
          Buffer.from(JSON.stringify(tokenizer.toJson(), null, 2) + '\n'),
        ]);
        writeFileAtomicSync(path.join(encoderDir, 'tokenizer_config.json'), [
          Buffer.from(JSON.stringify(tokenizer.toConfigJson(), null, 2) + '\n'),
        ]);
        outputs.push(TUNED_ENCODER_DIR);
      }
      saveSafetensorsSync(path.join(ctx.dir, TEXT_EMBEDDINGS_FILE), new Map([['text', textTable]]));
      const terms = alignmentTerms(aligner, cf, textTable, split, weights, ctx.seed);
      const textEncoder: SavedTextEncoder = {
        dir: tuned ? TUNED_ENCODER_DIR : path.resolve(spec.dir),
        attention: spec.attention,
        pooling: spec.pooling,
        maxTokens: spec.maxTokens,
        tuned: tuned !== undefined,
      };
      saveModel(ctx.dir, aligner, {
        cfDim: aligner.cfDim,
        textDim: aligner.textDim,
        latentDim: aligner.latentDim,
        textEncoder,
      });
      return {
        metrics: {
          epochs: result.epochs,
          loss: result.history.at(-1)?.loss,
          terms,
          textEncoder: { source: c.textEncoder || '(the --lm)', tuned: tuned !== undefined, dim: aligner.textDim },
        },
        outputs,
      };
    } finally {
      optimizer.dispose();
      model.dispose();
      textTable.dispose();
      cf.dispose();
    }
  },
});
