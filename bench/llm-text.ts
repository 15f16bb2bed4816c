// The text side beside transformers (bench/torch/llm_text.py runs the same cases): prefill
// tokens/s (one forward over the prompt, last-position logits), KV-cache greedy decode tokens/s
// (generating N tokens minus generating 1), and TextEmbedder items/s with the process's peak RSS.
//
//   node dist/bench/llm-text.js MODEL_DIR [--batch 4] [--prompt 128] [--new 16] [--items 0]
//        [--ids-out FILE]
//   node dist/bench/llm-text.js --init qwen2-0.5b DIR
//
// --init writes a preset's shape with random f32 weights (seed 1) as a Hugging Face folder once
// (config.json, model.safetensors; no tokenizer), so both sides load the very same weights.
// MODEL_DIR is any Qwen2/Llama folder; without a tokenizer only prefill and decode run. --items N
// embeds N catalogue-like titles (the embedded titles, numbered to make them distinct); --ids-out
// writes the token ids of every case so the PyTorch side runs exactly the same inputs. One JSON
// line out.
import fs from 'node:fs';

import path from 'node:path';

import {
  CausalLM,
  generate,
  loadCausalLM,
  loadLanguageModel,
  noGrad,
  PRESET_NAMES,
  presetConfig,
  saveCausalLM,
  TextEmbedder,
  tidy,
  type PresetName,
  type Tokenizer,
} from '../lib/index.js';
import { retailDocuments } from '../lib/llm/corpus.js';

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at < 0 ? fallback : Number(process.argv[at + 1]);
}

if (process.argv[2] === '--init') {
  const [preset, dir] = process.argv.slice(3);
  if (!PRESET_NAMES.includes(preset as PresetName) || !dir) {
    console.error(`usage: node dist/bench/llm-text.js --init ${PRESET_NAMES.join('|')} DIR`);
    process.exit(2);
  }
  const random = new CausalLM(presetConfig(preset as PresetName), { seed: 1 });
  saveCausalLM(dir, random, { dtype: 'f32' });
  console.log(`wrote ${dir}: ${preset}, ${random.numParameters()} parameters, random f32 weights (seed 1)`);
  random.dispose();
  process.exit(0);
}
const target = process.argv[2];
if (!target) {
  console.error(
    'usage: node dist/bench/llm-text.js MODEL_DIR [--batch B] [--prompt P] [--new N] [--items N] [--ids-out FILE]',
  );
  process.exit(2);
}
const batch = flag('batch', 4);
const promptLength = flag('prompt', 128);
const newTokens = flag('new', 16);
const items = flag('items', 0);
const idsOutAt = process.argv.indexOf('--ids-out');
const idsOut = idsOutAt < 0 ? undefined : process.argv[idsOutAt + 1];

let model: CausalLM;
let tokenizer: Tokenizer | undefined;
if (fs.existsSync(path.join(target, 'tokenizer.json'))) ({ model, tokenizer } = loadLanguageModel(target));
else model = loadCausalLM(target);
model.eval();
// One repeat for models of more than 100M parameters (seconds per case on two cores).
const large = model.numParameters() > 100e6;
const vocab = model.config.vocabSize;
const prompts = Array.from({ length: batch }, (_, r) =>
  Array.from({ length: promptLength }, (_, j) => (r * 131 + j * 7919 + 13) % (vocab - 1)),
);

/**
 * Median of `repeats` runs after one warm-up: wall seconds and process CPU seconds (user + system,
 * all threads). On a shared machine the CPU time measures the work; the wall time the wait too.
 */
function time(fn: () => void, repeats: number): { wall: number; cpu: number } {
  fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    const usage = process.cpuUsage();
    fn();
    const used = process.cpuUsage(usage);
    wall.push((performance.now() - start) / 1000);
    cpu.push((used.user + used.system) / 1e6);
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return { wall: median(wall), cpu: median(cpu) };
}

const repeats = large ? 1 : 5;
const prefill = time(
  () =>
    noGrad(() =>
      tidy(() => {
        model.forward({ inputIds: prompts, logits: 'last' }).logits!.dataSync();
      }),
    ),
  repeats,
);
// Decode: generating newTokens minus generating one (the prefill and its first token).
const generateN = (n: number) => () => {
  generate(model, prompts, { maxNewTokens: n, eosTokenIds: [] });
};
const one = time(generateN(1), repeats);
const many = time(generateN(newTokens), repeats);
const prefillTokens = batch * promptLength;
const decodeTokens = batch * (newTokens - 1);
const result: Record<string, unknown> = {
  impl: 'llmrec',
  model: target,
  parameters: model.numParameters(),
  batch,
  prompt: promptLength,
  new_tokens: newTokens,
  prefill_tokens_per_s: prefillTokens / prefill.wall,
  prefill_tokens_per_cpu_s: prefillTokens / prefill.cpu,
  decode_tokens_per_s: decodeTokens / (many.wall - one.wall),
  decode_tokens_per_cpu_s: decodeTokens / (many.cpu - one.cpu),
};
const dump: Record<string, unknown> = { prompts, new_tokens: newTokens };

if (items > 0) {
  if (!tokenizer) throw new Error('--items needs a model folder with a tokenizer');
  const titles = retailDocuments().filter((_, i) => i % 2 === 0);
  const texts = Array.from(
    { length: items },
    (_, i) => `${titles[i % titles.length]!} ${Math.floor(i / titles.length)}`,
  );
  const embedder = new TextEmbedder(model, tokenizer);
  const start = performance.now();
  const usage = process.cpuUsage();
  const vectors = embedder.embed(texts);
  const used = process.cpuUsage(usage);
  const seconds = (performance.now() - start) / 1000;
  Object.assign(result, {
    items,
    embed_items_per_s: items / seconds,
    embed_items_per_cpu_s: items / ((used.user + used.system) / 1e6),
    embed_output_mb: vectors.byteLength / 2 ** 20,
  });
  dump.items = texts.map((t) => embedder.tokens(t));
}
// The kernel's high-water mark of the whole process (model included), as Python's ru_maxrss.
result.peak_rss_mb = process.resourceUsage().maxRSS / 1024;
if (idsOut) fs.writeFileSync(idsOut, JSON.stringify(dump));
model.dispose();
console.log(JSON.stringify(result));
