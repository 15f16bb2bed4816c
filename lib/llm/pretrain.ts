// Pretraining a causal LM from scratch (`llmrec lm pretrain`): documents → a byte-level BPE
// tokenizer trained on them → one token stream (documents joined by EOS) packed into windows of
// the context length → the shared trainer (AdamW, warm-up + cosine decay, fused chunked CE,
// checkpoints and exact resume) until the token budget is spent → a Hugging Face folder.
//
// A small deterministic share of the documents is held out before the tokenizer is trained, so
// the held-out perplexity measures text the run never saw.
import fs from 'node:fs';
import path from 'node:path';

import { noGrad } from '../autograd.js';
import { writeFileAtomicSync } from '../io/atomic.js';
import { AdamW } from '../optim/adam.js';
import { cosineWarmupDecay, LrScheduler } from '../optim/schedule.js';
import { manualSeed } from '../tensor.js';
import { tidy } from '../scope.js';
import { latestCheckpoint } from '../train/checkpoint.js';
import { silentSink, type ProgressSink } from '../train/progress.js';
import { train } from '../train/trainer.js';
import { trainByteLevelBpe } from './bpe-train.js';
import type { CausalLMConfig } from './config.js';
import { readCorpus, WORDNET_DIR } from './corpus.js';
import { saveCausalLM } from './loader.js';
import { CausalLM } from './model.js';
import { Tokenizer } from './tokenizer.js';

export interface PretrainOptions {
  /** The output Hugging Face folder. */
  out: string;
  /** The model shape; vocabSize is the tokenizer's size, eos the tokenizer's EOS. */
  config: CausalLMConfig;
  /** Tokens per training window (the context length trained). */
  context: number;
  /** Corpus sources: 'wordnet', 'retail' or text files (one document per line). */
  corpus: readonly string[];
  wordnetDir?: string;
  /**
   * Training tokens to consume (windows × context); the run stops when they are spent. The one
   * setting a resume may change: the cosine schedule then ends at the new budget.
   */
  tokens: number;
  /** Windows per optimiser step. */
  batchSize: number;
  lr: number;
  weightDecay?: number;
  /** Warm-up steps (default 2% of the steps). */
  warmupSteps?: number;
  /** Held-out documents per thousand (default 5). */
  heldOutPerMille?: number;
  seed: number;
  device?: string;
  /** Weights on disk (default bf16). */
  dtype?: 'f32' | 'bf16';
  /** Checkpoint folder (default `<out>.checkpoints`). */
  checkpointDir?: string;
  /** Save every N steps (default 200). */
  checkpointEvery?: number;
  /** Continue from the latest checkpoint. */
  resume?: boolean;
  progress?: ProgressSink;
  /** Status lines (corpus sizes, tokenizer, evaluation). */
  log?: (line: string) => void;
}

export interface PretrainReport {
  out: string;
  corpus: { source: string; documents: number; characters: number }[];
  trainDocuments: number;
  heldOutDocuments: number;
  trainTokens: number;
  heldOutTokens: number;
  vocabSize: number;
  parameters: number;
  steps: number;
  tokensSeen: number;
  epochs: number;
  /** Mean token cross-entropy (nats) in eval mode over as many training windows as held-out ones. */
  trainLoss: number;
  heldOutLoss: number;
  trainPerplexity: number;
  heldOutPerplexity: number;
  /** Seconds of this invocation (a resumed run counts only its own part). */
  seconds: number;
  /** Training tokens per second of this invocation's steps (corpus, tokenizer and evaluation excluded). */
  tokensPerSecond: number;
  resumedFromStep: number | null;
}

const SETTINGS_FILE = 'pretrain-settings.json';
const TOKENIZER_DIR = 'tokenizer';

/** A small deterministic PRNG (mulberry32) for the window order: resume needs only (seed, epoch). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function permutation(n: number, seed: number): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const random = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** Whether document `index` is held out: a hash of (index, seed) below the share. */
function isHeldOut(index: number, seed: number, perMille: number): boolean {
  const h = Math.imul(index ^ Math.imul(seed + 1, 0x9e3779b1), 0x85ebca6b) >>> 0;
  return ((h ^ (h >>> 13)) >>> 0) % 1000 < perMille;
}

/** Documents → ids joined by EOS (each document followed by it). */
function tokenStream(tokenizer: Tokenizer, documents: readonly string[], eos: number): Int32Array {
  const chunks: number[][] = [];
  let total = 0;
  for (const doc of documents) {
    const ids = tokenizer.encode(doc, { addSpecialTokens: false });
    ids.push(eos);
    chunks.push(ids);
    total += ids.length;
  }
  const out = new Int32Array(total);
  let at = 0;
  for (const ids of chunks) {
    out.set(ids, at);
    at += ids.length;
  }
  return out;
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(`lm pretrain: ${message}`);
}

/** Mean token CE of the first `count` windows in `order`, in eval mode, batch by batch. */
function meanLoss(model: CausalLM, stream: Int32Array, context: number, order: Int32Array, batchSize: number): number {
  let total = 0;
  let windows = 0;
  model.eval();
  try {
    for (let start = 0; start < order.length; start += batchSize) {
      const rows = order.subarray(start, Math.min(order.length, start + batchSize));
      const ids = new Int32Array(rows.length * context);
      rows.forEach((w, r) => ids.set(stream.subarray(w * context, (w + 1) * context), r * context));
      total +=
        noGrad(() =>
          tidy(() =>
            model.forward({ inputIds: ids, shape: [rows.length, context], labels: ids, logits: 'none' }).loss!.item(),
          ),
        ) * rows.length;
      windows += rows.length;
    }
  } finally {
    model.train();
  }
  return total / windows;
}

/** Pretrains a causal LM on the corpus and writes a Hugging Face folder; see PretrainOptions. */
export async function pretrainLanguageModel(options: PretrainOptions): Promise<PretrainReport> {
  const started = performance.now();
  const log = options.log ?? (() => undefined);
  const { context, batchSize, seed } = options;
  check(Number.isInteger(context) && context >= 2, `'context' must be an integer >= 2, got ${context}`);
  check(Number.isInteger(batchSize) && batchSize >= 1, `'batchSize' must be a positive integer, got ${batchSize}`);
  check(
    Number.isInteger(options.tokens) && options.tokens >= 1,
    `'tokens' must be a positive integer, got ${options.tokens}`,
  );
  check(options.lr > 0 && Number.isFinite(options.lr), `'lr' must be a positive number, got ${options.lr}`);
  const perMille = options.heldOutPerMille ?? 5;
  check(
    Number.isInteger(perMille) && perMille >= 1 && perMille < 500,
    `'heldOutPerMille' must be in [1, 500), got ${perMille}`,
  );
  const checkpointDir = options.checkpointDir ?? `${options.out.replace(/[\\/]+$/, '')}.checkpoints`;
  const settings = {
    config: { ...options.config, vocabSize: undefined, eosTokenIds: undefined },
    context,
    corpus: options.corpus,
    tokens: options.tokens,
    batchSize,
    lr: options.lr,
    weightDecay: options.weightDecay ?? 0.1,
    warmupSteps: options.warmupSteps ?? null,
    heldOutPerMille: perMille,
    seed,
  };
  const settingsFile = path.join(checkpointDir, SETTINGS_FILE);
  const resuming = options.resume === true && latestCheckpoint(checkpointDir) !== null;
  if (resuming) {
    const saved = JSON.parse(fs.readFileSync(settingsFile, 'utf8')) as Record<string, unknown>;
    const current = JSON.parse(JSON.stringify(settings)) as Record<string, unknown>;
    // The token budget may change on resume (to fit a time limit): the schedule is a function of
    // the step and the total, so it is re-planned to end at the new budget from the saved step.
    const differing = Object.keys(current).filter(
      (k) => k !== 'tokens' && JSON.stringify(saved[k]) !== JSON.stringify(current[k]),
    );
    if (saved.tokens !== current.tokens)
      log(`resume: the token budget changes from ${String(saved.tokens)} to ${String(current.tokens)}`);
    check(
      differing.length === 0,
      `--resume: ${checkpointDir} was started with other settings (${differing.join(', ')}); use the same ones or another --checkpoint-dir`,
    );
  } else if (latestCheckpoint(checkpointDir) !== null) {
    check(false, `${checkpointDir} already holds checkpoints; pass --resume to continue, or another --checkpoint-dir`);
  }

  // Corpus, held-out split, tokenizer.
  const parts = readCorpus(options.corpus, options.wordnetDir ?? WORDNET_DIR);
  const trainDocs: string[] = [];
  const heldOutDocs: string[] = [];
  let index = 0;
  for (const part of parts)
    for (const doc of part.documents) (isHeldOut(index++, seed, perMille) ? heldOutDocs : trainDocs).push(doc);
  const corpus = parts.map((p) => ({
    source: p.source,
    documents: p.documents.length,
    characters: p.documents.reduce((s, d) => s + d.length, 0),
  }));
  for (const c of corpus) log(`corpus ${c.source}: ${c.documents} documents, ${c.characters} characters`);
  check(heldOutDocs.length > 0 && trainDocs.length > 0, 'the corpus is too small to hold out any document');
  let tokenizer: Tokenizer;
  const tokenizerDir = path.join(checkpointDir, TOKENIZER_DIR);
  if (resuming) tokenizer = Tokenizer.fromFile(tokenizerDir);
  else {
    const t0 = performance.now();
    tokenizer = trainByteLevelBpe(trainDocs, { vocabSize: options.config.vocabSize });
    log(`tokenizer: ${tokenizer.vocabSize} tokens trained in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    fs.mkdirSync(checkpointDir, { recursive: true });
    tokenizer.save(tokenizerDir);
    writeFileAtomicSync(settingsFile, [Buffer.from(JSON.stringify(settings, null, 2) + '\n')]);
  }
  const eos = tokenizer.eosTokenId;
  check(eos !== null, 'the tokenizer has no EOS token');
  const trainStream = tokenStream(tokenizer, trainDocs, eos!);
  const heldOutStream = tokenStream(tokenizer, heldOutDocs, eos!);
  const trainWindows = Math.floor(trainStream.length / context);
  const heldOutWindows = Math.floor(heldOutStream.length / context);
  log(
    `tokens: ${trainStream.length} train (${trainWindows} windows of ${context}), ${heldOutStream.length} held out (${heldOutWindows} windows)`,
  );
  check(
    trainWindows >= batchSize,
    `the training text gives ${trainWindows} windows of ${context}, fewer than one batch`,
  );
  check(heldOutWindows >= 1, `the held-out text is shorter than one window of ${context} tokens`);

  // Model, optimiser, schedule.
  const config: CausalLMConfig = {
    ...options.config,
    vocabSize: tokenizer.vocabSize,
    eosTokenIds: [eos!],
    bosTokenId: null,
    padTokenId: null,
    maxPositionEmbeddings: Math.max(options.config.maxPositionEmbeddings, context),
    torchDtype: 'float32',
  };
  manualSeed(seed);
  const model = new CausalLM(config, { device: options.device, seed });
  const stepTokens = batchSize * context;
  const totalSteps = Math.ceil(options.tokens / stepTokens);
  const batchesPerEpoch = Math.floor(trainWindows / batchSize);
  const epochs = Math.ceil(totalSteps / batchesPerEpoch);
  const warmupSteps = options.warmupSteps ?? Math.max(1, Math.round(totalSteps * 0.02));
  check(warmupSteps <= totalSteps, `'warmupSteps' ${warmupSteps} exceeds the ${totalSteps} steps of the budget`);
  const optimizer = new AdamW(model.parameters(), {
    lr: options.lr,
    betas: [0.9, 0.95],
    weightDecay: options.weightDecay ?? 0.1,
    maxGradNorm: 1,
  });
  const scheduler = new LrScheduler(optimizer, cosineWarmupDecay({ warmupSteps, totalSteps, minFactor: 0.1 }));
  log(
    `model: ${model.numParameters()} parameters; ${totalSteps} steps of ${stepTokens} tokens over ${epochs} epoch(s) of ${batchesPerEpoch} steps`,
  );
  // The trainer reports a resume as an event; the report counts only this invocation's steps.
  let resumedFromStep: number | null = null;
  const inner = options.progress ?? silentSink;
  const progress: ProgressSink = {
    emit(event) {
      if (event.event === 'resume') resumedFromStep = event.step;
      inner.emit(event);
    },
    startEpoch: inner.startEpoch?.bind(inner),
    close: inner.close?.bind(inner),
  };
  const trainingStarted = performance.now();
  let result;
  try {
    result = await train<Int32Array>({
      model,
      optimizer,
      scheduler,
      epochs,
      seed,
      batchesPerEpoch,
      *batches(epoch) {
        const order = permutation(trainWindows, seed * 7919 + epoch);
        const steps = Math.min(batchesPerEpoch, totalSteps - epoch * batchesPerEpoch);
        for (let b = 0; b < steps; b++) {
          const ids = new Int32Array(stepTokens);
          for (let r = 0; r < batchSize; r++) {
            const w = order[b * batchSize + r]!;
            ids.set(trainStream.subarray(w * context, (w + 1) * context), r * context);
          }
          yield ids;
        }
      },
      loss: (ids) => model.forward({ inputIds: ids, shape: [batchSize, context], labels: ids }).loss!,
      checkpoint: { dir: checkpointDir, everySteps: options.checkpointEvery ?? 200, keep: 2 },
      resume: options.resume === true,
      progress,
    });
    check(result.stopReason === 'completed', `training stopped: ${result.nonFinite ?? result.stopReason}`);
    const trainingSeconds = (performance.now() - trainingStarted) / 1000;

    const heldOutOrder = Int32Array.from({ length: heldOutWindows }, (_, i) => i);
    const trainSample = permutation(trainWindows, seed + 1).subarray(0, heldOutWindows);
    const heldOutLoss = meanLoss(model, heldOutStream, context, heldOutOrder, batchSize);
    const trainLoss = meanLoss(model, trainStream, context, trainSample, batchSize);
    log(
      `loss: train ${trainLoss.toFixed(4)}, held out ${heldOutLoss.toFixed(4)} (perplexity ${Math.exp(heldOutLoss).toFixed(2)})`,
    );

    saveCausalLM(options.out, model, { dtype: options.dtype ?? 'bf16' });
    tokenizer.save(options.out);
    const generation = { _from_model_config: true, eos_token_id: eos };
    writeFileAtomicSync(path.join(options.out, 'generation_config.json'), [
      Buffer.from(JSON.stringify(generation, null, 2) + '\n'),
    ]);
    const seconds = (performance.now() - started) / 1000;
    const report: PretrainReport = {
      out: options.out,
      corpus,
      trainDocuments: trainDocs.length,
      heldOutDocuments: heldOutDocs.length,
      trainTokens: trainStream.length,
      heldOutTokens: heldOutStream.length,
      vocabSize: tokenizer.vocabSize,
      parameters: model.numParameters(),
      steps: result.steps,
      tokensSeen: result.steps * stepTokens,
      epochs: result.epochs,
      trainLoss,
      heldOutLoss,
      trainPerplexity: Math.exp(trainLoss),
      heldOutPerplexity: Math.exp(heldOutLoss),
      seconds,
      tokensPerSecond: ((result.steps - (resumedFromStep ?? 0)) * stepTokens) / trainingSeconds,
      resumedFromStep,
    };
    writeFileAtomicSync(path.join(options.out, 'pretrain.json'), [
      Buffer.from(JSON.stringify({ settings, report }, null, 2) + '\n'),
    ]);
    return report;
  } finally {
    model.dispose();
  }
}
