// Writes the LLM2Rec parity fixtures in test/fixtures/llm2rec/: a tiny Qwen2 folder with a BPE
// tokenizer trained on a small catalogue's titles (weights redrawn at a visible scale, since HF's
// 0.02 init hides most mistakes), the CSFT, MNTP and SimCSE batches as llmrec builds them
// (inputs.json), then runs bench/torch/llm2rec.py for the expected losses and gradients.
//
//   npx tsc -p tsconfig.json && node dist/bench/llm2rec-fixtures.js [--out test/fixtures/llm2rec]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { trainByteLevelBpe } from '../lib/llm/bpe-train.js';
import { parseConfig } from '../lib/llm/config.js';
import { saveCausalLM } from '../lib/llm/loader.js';
import { CausalLM } from '../lib/llm/model.js';
import { csftExample, maskTokenId, mntpBatch, textKeys, tokenizeTexts } from '../lib/pipelines/llm2rec/parts.js';
import { randn, type Tensor } from '../lib/tensor.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The catalogue: four themes × six variants (test/llm2rec.test.ts builds its dataset alike). */
const fixtureThemes = ['red lantern', 'blue mug', 'green candle', 'paper star'];
const fixtureVariants = ['small', 'large', 'vintage', 'glass', 'heart', 'gift set'];

function main(): void {
  const outIndex = process.argv.indexOf('--out');
  const out = outIndex > 0 ? process.argv[outIndex + 1]! : path.join(root, 'test', 'fixtures', 'llm2rec');
  const lmDir = path.join(out, 'lm');
  const titles = fixtureThemes.flatMap((t) => fixtureVariants.map((v) => `${v} ${t}`));
  const tokenizer = trainByteLevelBpe([...titles, ...titles.map((t) => `${t}, ${t},`)], { vocabSize: 300 });
  const config = parseConfig({
    model_type: 'qwen2',
    vocab_size: tokenizer.vocabSize,
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    tie_word_embeddings: true,
    eos_token_id: tokenizer.eosTokenId,
    torch_dtype: 'float32',
  });
  const model = new CausalLM(config, { seed: 3 });
  const state = new Map<string, Tensor>();
  model.namedParameters().forEach(([name, p], i) => {
    const norm = name.endsWith('norm.weight');
    state.set(name, randn(p.shape, { seed: 300 + i, std: norm ? 0.2 : 0.3, mean: norm ? 1 : 0 }));
  });
  model.loadStateDict(state);
  for (const t of state.values()) t.dispose();
  saveCausalLM(lmDir, model);
  model.dispose();
  tokenizer.save(lmDir);

  const eos = tokenizer.eosTokenId!;
  const csft = [
    csftExample(tokenizer, ['red lantern', 'small blue mug'], 'gift set paper star', eos, 64),
    csftExample(tokenizer, ['vintage green candle', 'glass heart', 'paper star'], 'large red lantern', eos, 64),
    csftExample(tokenizer, ['heart blue mug'], 'small blue mug', eos, 12),
  ];
  const catalogue = tokenizeTexts(tokenizer, ['', ...titles], 16);
  const mntp = mntpBatch(catalogue, {
    seed: 7,
    step: 0,
    batch: 4,
    probability: 0.3,
    maskId: maskTokenId(tokenizer, '_'),
    vocabSize: tokenizer.vocabSize,
    special: new Set(),
  });
  const simcseTitles = [
    'vintage blue mug',
    'glass heart red lantern',
    'paper star',
    'vintage blue mug',
    'green candle',
  ];
  const inputs = {
    padId: eos,
    csft,
    mntp,
    simcse: { rows: tokenizeTexts(tokenizer, simcseTitles, 16), keys: [...textKeys(simcseTitles)], tau: 0.5 },
  };
  fs.writeFileSync(path.join(out, 'inputs.json'), JSON.stringify(inputs) + '\n');
  const torch = spawnSync('/usr/bin/python3', [path.join(root, 'bench', 'torch', 'llm2rec.py'), '--fixtures', out], {
    stdio: 'inherit',
  });
  if (torch.status !== 0) throw new Error(`bench/torch/llm2rec.py exited with ${torch.status}`);
  console.log(`wrote ${out}`);
}

main();
