// The frozen LM of A-LLMRec and its tokenizer, and the item-text embeddings of stage 1.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { noGrad } from '../../autograd.js';
import { loadCausalLM } from '../../llm/loader.js';
import { poolHidden, type CausalLM } from '../../llm/model.js';
import { Tokenizer } from '../../llm/tokenizer.js';
import { tidy } from '../../scope.js';
import { ConfigError } from '../config.js';

export interface LanguageModel {
  dir: string;
  model: CausalLM;
  tokenizer: Tokenizer;
  /** The id that ends an answer (the config's first EOS, else the tokenizer's). */
  eos: number;
  dispose(): void;
}

/** The LM folder a config names: `--lm DIR`, else the shipped default LM. */
export function languageModelDir(lm: string): string {
  if (lm) return lm;
  const shipped = path.join(
    path.dirname(path.dirname(path.dirname(path.dirname(new URL(import.meta.url).pathname)))),
    'data',
    'models',
  );
  throw new ConfigError(
    `a-llmrec: no --lm given and no default LM is shipped in ${shipped} yet; pass --lm DIR (a Qwen2/Llama folder, e.g. from \`llmrec lm init\` plus a tokenizer.json)`,
  );
}

/** Loads a Qwen2/Llama folder (config.json, safetensors, tokenizer.json) in f32, frozen, in eval mode. */
export function loadLanguageModel(dir: string, device: string): LanguageModel {
  if (!fs.existsSync(dir)) throw new ConfigError(`--lm ${dir} does not exist`);
  if (!fs.existsSync(path.join(dir, 'tokenizer.json')))
    throw new ConfigError(`--lm ${dir} has no tokenizer.json; A-LLMRec needs the LM's tokenizer to write prompts`);
  const tokenizer = Tokenizer.fromFile(dir);
  const model = loadCausalLM(dir, { device, dtype: 'f32' });
  model.freeze().eval();
  const eos = model.config.eosTokenIds[0] ?? tokenizer.eosTokenId;
  if (eos === undefined || eos === null) {
    model.dispose();
    throw new ConfigError(`--lm ${dir}: neither config.json nor the tokenizer names an EOS token`);
  }
  return { dir, model, tokenizer, eos, dispose: () => model.dispose() };
}

/**
 * One embedding per text: the LM's last hidden state averaged over the text's tokens (at most
 * `maxTokens`), computed without gradients in batches. Row i is texts[i]; an empty text is read
 * as the EOS token alone.
 */
export function meanPooledTextEmbeddings(
  lm: LanguageModel,
  texts: readonly string[],
  options: { batchSize?: number; maxTokens?: number } = {},
): Float32Array {
  const batchSize = options.batchSize ?? 32;
  const maxTokens = options.maxTokens ?? 64;
  const d = lm.model.config.hiddenSize;
  const out = new Float32Array(texts.length * d);
  for (let start = 0; start < texts.length; start += batchSize) {
    const rows = texts.slice(start, start + batchSize).map((text) => {
      const ids = lm.tokenizer.encode(text, { addSpecialTokens: false }).slice(0, maxTokens);
      return ids.length > 0 ? ids : [lm.eos];
    });
    const width = Math.max(...rows.map((r) => r.length));
    const ids = new Int32Array(rows.length * width).fill(lm.eos);
    rows.forEach((r, i) => ids.set(r, i * width));
    const lengths = rows.map((r) => r.length);
    const pooled = noGrad(() =>
      tidy(() => {
        const { lastHiddenState } = lm.model.forward({
          inputIds: ids,
          shape: [rows.length, width],
          lengths,
          logits: 'none',
        });
        return poolHidden(lastHiddenState, { mode: 'mean', lengths }).dataSync() as Float32Array;
      }),
    );
    out.set(pooled, start * d);
  }
  return out;
}
