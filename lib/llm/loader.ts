// Hugging Face model folders: config.json plus model.safetensors, or shards listed by
// model.safetensors.index.json. Every expected tensor is checked (present, right shape) from the
// headers before any weight is read; then tensors are read one at a time into the model.
import fs from 'node:fs';
import path from 'node:path';

import { noGrad } from '../autograd.js';
import { SafetensorsFile, saveSafetensorsSync } from '../io/safetensors.js';
import { writeFileAtomicSync } from '../io/atomic.js';
import { tensor, Tensor } from '../tensor.js';
import { configJsonText, parseConfig, type CausalLMConfig } from './config.js';
import { CausalLM } from './model.js';
import { expectArgs } from '../guard.js';

export interface LoadOptions {
  device?: string;
  /** Weight dtype in memory (default: bf16 when config.json says bfloat16/float16, else f32). */
  dtype?: 'f32' | 'bf16';
}

export function readConfig(dir: string): CausalLMConfig {
  expectArgs('readConfig', { dir }, 'string');
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) throw new Error(`loadCausalLM: ${dir} has no config.json`);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf-8'));
  } catch (error) {
    throw new Error(`loadCausalLM: ${file} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  return parseConfig(json);
}

/** Which file holds each tensor: model.safetensors, or the shards of model.safetensors.index.json. */
function weightFiles(dir: string): Map<string, string> {
  const index = path.join(dir, 'model.safetensors.index.json');
  const single = path.join(dir, 'model.safetensors');
  if (fs.existsSync(index)) {
    const json = JSON.parse(fs.readFileSync(index, 'utf-8')) as { weight_map?: Record<string, string> };
    if (!json.weight_map || typeof json.weight_map !== 'object')
      throw new Error(`loadCausalLM: ${index} has no weight_map`);
    return new Map(Object.entries(json.weight_map).map(([name, file]) => [name, path.join(dir, file)]));
  }
  if (fs.existsSync(single)) {
    const file = SafetensorsFile.open(single);
    try {
      return new Map(file.names.map((name) => [name, single]));
    } finally {
      file.close();
    }
  }
  throw new Error(`loadCausalLM: ${dir} has neither model.safetensors nor model.safetensors.index.json`);
}

/**
 * Loads a Qwen2 or Llama folder. Errors name the tensor: a missing one, a shape that differs
 * from the config's (both shapes given), or tensors the model does not have (all listed).
 */
export function loadCausalLM(dir: string, options: LoadOptions = {}): CausalLM {
  expectArgs('loadCausalLM', { dir }, 'string');
  const config = readConfig(dir);
  const dtype = options.dtype ?? (config.torchDtype === 'float32' ? 'f32' : 'bf16');
  const model = new CausalLM(config, { device: options.device, dtype, initialize: 'empty' });
  try {
    const locations = weightFiles(dir);
    const expected = new Map(model.namedParameters().map(([name, p]) => [name, p.shape]));
    const files = new Map<string, SafetensorsFile>();
    const open = (file: string): SafetensorsFile => {
      let f = files.get(file);
      if (!f) {
        if (!fs.existsSync(file)) throw new Error(`loadCausalLM: shard ${file} (named by the index) does not exist`);
        f = SafetensorsFile.open(file);
        files.set(file, f);
      }
      return f;
    };
    try {
      for (const [name, shape] of expected) {
        const file = locations.get(name);
        if (!file) throw new Error(`loadCausalLM: tensor '${name}' [${shape.join(', ')}] is missing from ${dir}`);
        const info = open(file).info(name);
        if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i]))
          throw new Error(
            `loadCausalLM: tensor '${name}' is [${info.shape.join(', ')}] in ${path.basename(file)} but the config needs [${shape.join(', ')}]`,
          );
      }
      // Tied checkpoints sometimes still carry lm_head.weight; rotary caches are recomputed.
      const ignorable = (name: string): boolean =>
        (config.tieWordEmbeddings && name === 'lm_head.weight') || name.endsWith('rotary_emb.inv_freq');
      const unexpected = [...locations.keys()].filter((name) => !expected.has(name) && !ignorable(name));
      if (unexpected.length > 0)
        throw new Error(`loadCausalLM: ${dir} has tensors the model does not: ${unexpected.join(', ')}`);
      for (const name of expected.keys()) {
        const t = open(locations.get(name)!).read(name, { device: model.device, dtype });
        model.loadStateDict(new Map([[name, t]]), { strict: false });
        t.dispose();
      }
    } finally {
      for (const f of files.values()) f.close();
    }
  } catch (error) {
    model.dispose();
    throw error;
  }
  return model;
}

export interface SaveOptions {
  /** Weights on disk (default: the config's torch_dtype). */
  dtype?: 'f32' | 'bf16';
  /** Split into shards of at most this many bytes, with model.safetensors.index.json (default: one file). */
  maxShardBytes?: number;
}

/** Writes config.json and the weights under HF's names, so loadCausalLM (and transformers) read them back. */
export function saveCausalLM(dir: string, model: CausalLM, options: SaveOptions = {}): void {
  expectArgs('saveCausalLM', { dir }, 'string');
  expectArgs('saveCausalLM', { model }, 'object');
  expectArgs('saveCausalLM', { options }, 'options');
  fs.mkdirSync(dir, { recursive: true });
  const dtype = options.dtype ?? (model.config.torchDtype === 'float32' ? 'f32' : 'bf16');
  const config: CausalLMConfig = { ...model.config, torchDtype: dtype === 'bf16' ? 'bfloat16' : 'float32' };
  writeFileAtomicSync(path.join(dir, 'config.json'), [Buffer.from(configJsonText(config))]);
  const named = model.namedParameters();
  const bytesOf = (t: Tensor): number => t.size * (dtype === 'bf16' ? 2 : 4);
  const shards: [string, Tensor][][] = [[]];
  let used = 0;
  for (const entry of named) {
    const size = bytesOf(entry[1]);
    if (options.maxShardBytes && used > 0 && used + size > options.maxShardBytes) {
      shards.push([]);
      used = 0;
    }
    shards[shards.length - 1]!.push(entry);
    used += size;
  }
  const write = (file: string, entries: [string, Tensor][]): void =>
    noGrad(() => {
      const converted = new Map(entries.map(([name, t]) => [name, t.dtype === dtype ? t.share() : t.cast(dtype)]));
      try {
        saveSafetensorsSync(path.join(dir, file), converted, { format: 'pt' });
      } finally {
        for (const t of converted.values()) t.dispose();
      }
    });
  for (const stale of fs.readdirSync(dir))
    if (/^model(-\d+-of-\d+)?\.safetensors(\.index\.json)?$/.test(stale)) fs.rmSync(path.join(dir, stale));
  if (shards.length === 1) {
    write('model.safetensors', shards[0]!);
    return;
  }
  const count = String(shards.length).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  let total = 0;
  shards.forEach((entries, i) => {
    const file = `model-${String(i + 1).padStart(5, '0')}-of-${count}.safetensors`;
    write(file, entries);
    for (const [name, t] of entries) {
      weightMap[name] = file;
      total += bytesOf(t);
    }
  });
  const index = { metadata: { total_size: total }, weight_map: weightMap };
  writeFileAtomicSync(path.join(dir, 'model.safetensors.index.json'), [
    Buffer.from(JSON.stringify(index, null, 2) + '\n'),
  ]);
}

/**
 * A model with `newVocab` token rows (for added special tokens), as a new CausalLM; the old one is
 * left as it was. New rows (and new lm_head rows when untied) are the mean of the existing rows:
 * HF's mean_resizing centres new rows on that mean too (it samples around it with 1e-5 of the
 * covariance); the exact mean keeps this deterministic. Shrinking keeps the first rows.
 */
export function resizeTokenEmbeddings(model: CausalLM, newVocab: number): CausalLM {
  if (!Number.isInteger(newVocab) || newVocab < 1)
    throw new Error(`resizeTokenEmbeddings: 'newVocab' must be a positive integer, got ${newVocab}`);
  const config: CausalLMConfig = { ...model.config, vocabSize: newVocab };
  const resized = new CausalLM(config, { device: model.device, dtype: model.dtype, initialize: 'empty' });
  const resize = (table: Tensor): Tensor => {
    const [rows, d] = [table.shape[0]!, table.shape[1]!];
    const old = table.dataSync() as Float32Array;
    const out = new Float32Array(newVocab * d);
    out.set(old.subarray(0, Math.min(rows, newVocab) * d));
    if (newVocab > rows) {
      const mean = new Float64Array(d);
      for (let r = 0; r < rows; r++) for (let j = 0; j < d; j++) mean[j]! += old[r * d + j]!;
      for (let r = rows; r < newVocab; r++) for (let j = 0; j < d; j++) out[r * d + j] = mean[j]! / rows;
    }
    return tensor(out, { shape: [newVocab, d], device: model.device });
  };
  const state = model.stateDict();
  for (const name of ['model.embed_tokens.weight', 'lm_head.weight']) {
    const t = state.get(name);
    if (!t) continue;
    state.set(name, resize(t));
    t.dispose();
  }
  resized.loadStateDict(state);
  for (const t of state.values()) t.dispose();
  return resized;
}
