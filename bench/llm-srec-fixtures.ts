// Writes the LLM-SRec parity fixtures in test/fixtures/llm-srec/parity/: a tiny catalogue and
// batch, the prompts llmrec builds for it (PromptBuilder, with a byte-level BPE tokenizer saved
// in lm/tokenizer.json), a random SASRec (weights redrawn at a visible scale: sasrec.safetensors),
// all in inputs.json; then bench/torch/llm_srec.py writes the random Qwen2 beside the tokenizer
// with transformers' save_pretrained (lm/), the trained modules' initial weights
// (heads.safetensors), and the four loss terms and every trained module's gradient
// (expected.json, expected-grads.safetensors) that test/llm-srec.test.ts checks llmrec against.
//
//   npx tsc -p tsconfig.json && node dist/bench/llm-srec-fixtures.js [--out test/fixtures/llm-srec/parity]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { saveSafetensorsSync } from '../lib/io/safetensors.js';
import { trainByteLevelBpe } from '../lib/llm/bpe-train.js';
import { leftPad } from '../lib/models/recommender-model.js';
import { SASRec, sasrecConfig } from '../lib/models/sasrec.js';
import { PromptBuilder, type PromptOptions } from '../lib/pipelines/llm-srec/prompts.js';
import { randn, tensor, type Tensor } from '../lib/tensor.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const themes = ['red lantern', 'blue mug', 'glass star', 'tea towel'];
const variants = ['small', 'vintage', 'heart'];

/** Everything the parity test and bench/torch/llm_srec.py read (inputs.json). */
export interface LLMSRecParityInputs {
  catalogue: { titles: string[]; itemKeys: string[] };
  prompt: PromptOptions;
  /** The LM to write (transformers' Qwen2Config fields). */
  lm: {
    vocabSize: number;
    hiddenSize: number;
    intermediateSize: number;
    layers: number;
    heads: number;
    kvHeads: number;
  };
  sasrec: {
    numItems: number;
    hidden: number;
    blocks: number;
    heads: number;
    maxlen: number;
    ffnDim: number;
    eps: number;
  };
  shape: { userHidden: number; cfHidden: number; outDim: number };
  /** Each user's history (oldest first) with UTC ms times, and [target, negatives...]. */
  histories: { items: number[]; times: number[] }[];
  candidates: number[][];
  /** The prompts llmrec builds: one per user, and one per candidate (flattened in order). */
  userPrompts: { ids: number[]; historySlots: number[]; historyItems: number[]; outSlot: number }[];
  itemPrompts: { ids: number[]; historySlots: number[]; historyItems: number[]; outSlot: number }[];
  /** The SASRec's input: each full history left-padded to maxlen, row-major. */
  sasrecInput: number[];
}

function main(): void {
  const outIndex = process.argv.indexOf('--out');
  const out = outIndex > 0 ? process.argv[outIndex + 1]! : path.join(root, 'test', 'fixtures', 'llm-srec', 'parity');
  const lmDir = path.join(out, 'lm');
  fs.mkdirSync(lmDir, { recursive: true });
  const titles = ['', ...themes.flatMap((t) => variants.map((v) => `${v} ${t}`))];
  // Item 7 has no title: its prompt names it by key.
  titles[7] = '';
  const itemKeys = titles.map((_, i) => (i === 0 ? '' : `SKU${100 + i}`));
  const tokenizer = trainByteLevelBpe(
    [
      ...titles.slice(1),
      'This user has made a series of purchases in the following order: Item No.1, Time: 2011-01-05, ',
      '. Based on this sequence of purchases, generate user representation token:',
      'The item title and item embedding are as follows: , then generate item representation token:',
    ],
    { vocabSize: 300, minFrequency: 1 },
  );
  tokenizer.save(lmDir);
  const prompt: PromptOptions = { historyItems: 4, maxTokens: 256, dates: true };
  const builder = new PromptBuilder(tokenizer, { titles, itemKeys }, prompt);
  const day = (d: number) => Date.UTC(2011, 0, d, 9, 30);
  // User 0's history is longer than historyItems (the prompt keeps its last 4; the SASRec sees all 6).
  const histories = [
    { items: [1, 4, 2, 9, 7, 3], times: [1, 3, 4, 8, 12, 20].map(day) },
    { items: [5, 11], times: [2, 31].map(day) },
    { items: [12, 6, 8], times: [5, 6, 9].map(day) },
  ];
  const candidates = [
    [10, 2, 12, 5],
    [3, 7, 1, 10],
    [4, 8, 11, 9],
  ];
  const sasrec = { numItems: titles.length - 1, hidden: 8, blocks: 2, heads: 1, maxlen: 8, ffnDim: 8, eps: 1e-8 };
  const model = new SASRec(sasrecConfig(sasrec.numItems, 'llm-srec', sasrec));
  const state = new Map<string, Tensor>();
  model.namedParameters().forEach(([name, p], i) => {
    const norm = /Norm\.weight$/.test(name);
    const drawn = randn(p.shape, { seed: 500 + i, std: norm ? 0.2 : 0.4, mean: norm ? 1 : 0 });
    if (name !== 'items.table.weight') return void state.set(name, drawn);
    // The padding row stays zero (pmixer's padding_idx = 0).
    const values = Float32Array.from(drawn.dataSync());
    values.fill(0, 0, sasrec.hidden);
    drawn.dispose();
    state.set(name, tensor(values, { shape: p.shape }));
  });
  model.loadStateDict(state);
  saveSafetensorsSync(path.join(out, 'sasrec.safetensors'), state, { format: 'pt' });
  for (const t of state.values()) t.dispose();
  model.dispose();
  const sasrecInput = new Int32Array(histories.length * sasrec.maxlen);
  histories.forEach((h, r) => leftPad(h.items, sasrec.maxlen, sasrecInput, r));
  const inputs: LLMSRecParityInputs = {
    catalogue: { titles, itemKeys },
    prompt,
    lm: { vocabSize: tokenizer.vocabSize, hiddenSize: 16, intermediateSize: 32, layers: 2, heads: 4, kvHeads: 2 },
    sasrec,
    shape: { userHidden: 12, cfHidden: 10, outDim: 6 },
    histories,
    candidates,
    userPrompts: histories.map((h) => builder.encodeUser(h.items, h.times)),
    itemPrompts: candidates.flat().map((item) => builder.encodeItem(item)),
    sasrecInput: Array.from(sasrecInput),
  };
  fs.writeFileSync(path.join(out, 'inputs.json'), JSON.stringify(inputs) + '\n');
  const torch = spawnSync('/usr/bin/python3', [path.join(root, 'bench', 'torch', 'llm_srec.py'), '--fixtures', out], {
    stdio: 'inherit',
  });
  if (torch.status !== 0) throw new Error(`bench/torch/llm_srec.py exited with ${torch.status}`);
  console.log(`wrote ${out}`);
}

main();
