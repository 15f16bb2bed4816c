import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {
  builtLanguageModelDir,
  DEFAULT_LANGUAGE_MODEL,
  defaultLanguageModelDir,
  loadLanguageModel,
  saveCausalLM,
  TextEmbedder,
  trainByteLevelBpe,
  type CausalLM,
  type Tokenizer,
} from '../lib/index.js';
import { embedIds, hostParams, qwenConfig, randomModel, reference } from './support/llm-reference.js';
import { expectClose } from './support/reference.js';

const TEXTS = [
  'paper lantern',
  'white hanging heart t-light holder',
  'mug',
  'set of 3 christmas tree decorations with a very long descriptive title',
  'a lantern, a mug',
];

function smallTokenizer(): Tokenizer {
  return trainByteLevelBpe([...TEXTS, 'lantern lantern mug mug christmas'], { vocabSize: 290 });
}

function smallModel(tokenizer: Tokenizer, seed = 7): CausalLM {
  return randomModel(qwenConfig({ vocab_size: tokenizer.vocabSize, eos_token_id: tokenizer.eosTokenId }), 'cpu', seed);
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'llmrec-embed-'));
}

/** Pooled float64 vector of one unpadded sequence through the float64 reference forward. */
function referenceVector(model: CausalLM, ids: number[], pooling: 'mean' | 'last', causal: boolean): number[] {
  const params = hostParams(model);
  const d = model.config.hiddenSize;
  const { hidden } = reference(model.config, params, {
    embeds: embedIds(params, model.config, [ids]),
    b: 1,
    l: ids.length,
    causal,
  });
  if (pooling === 'last') return [...hidden.subarray((ids.length - 1) * d, ids.length * d)];
  const out = new Array<number>(d).fill(0);
  for (let j = 0; j < ids.length; j++) for (let k = 0; k < d; k++) out[k]! += hidden[j * d + k]! / ids.length;
  return out;
}

describe('TextEmbedder', () => {
  const tokenizer = smallTokenizer();
  let model: CausalLM;
  before(() => (model = smallModel(tokenizer)));
  after(() => model.dispose());

  for (const [pooling, attention] of [
    ['mean', 'causal'],
    ['mean', 'bidirectional'],
    ['last', 'causal'],
    ['eos', 'causal'],
  ] as const) {
    it(`${pooling} pooling, ${attention}: length-sorted padded batches match the float64 reference of each text alone`, () => {
      // A small token budget forces several batches with padding in each.
      const embedder = new TextEmbedder(model, tokenizer, { pooling, attention, batchTokens: 40, maxTokens: 20 });
      const vectors = embedder.embed(TEXTS);
      const d = embedder.dimension;
      expect(vectors.length).to.equal(TEXTS.length * d);
      TEXTS.forEach((text, i) => {
        const ids = embedder.tokens(text);
        expect(ids.length).to.be.at.most(20);
        if (pooling === 'eos') expect(ids.at(-1)).to.equal(tokenizer.eosTokenId);
        const expected = referenceVector(model, ids, pooling === 'mean' ? 'mean' : 'last', attention === 'causal');
        expectClose(vectors.subarray(i * d, (i + 1) * d), expected, 1e-5, `text ${i}`);
      });
      expect(embedder.lastStats).to.include({ texts: 5, unique: 5, misses: 5, hits: 0 });
    });
  }

  it('normalize gives unit vectors; duplicates are computed once and returned for each position', () => {
    const embedder = new TextEmbedder(model, tokenizer, { normalize: true });
    const texts = ['mug', 'paper lantern', 'mug'];
    const vectors = embedder.embed(texts);
    const d = embedder.dimension;
    for (let i = 0; i < 3; i++) {
      const norm = Math.hypot(...vectors.subarray(i * d, (i + 1) * d));
      expect(norm).to.be.closeTo(1, 1e-5);
    }
    expect([...vectors.subarray(0, d)]).to.deep.equal([...vectors.subarray(2 * d, 3 * d)]);
    expect(embedder.lastStats).to.include({ texts: 3, unique: 2, misses: 2 });
  });

  it('cache: a second embedder hits, new texts miss, other weights miss, a torn file is rebuilt', () => {
    const dir = tmpDir();
    try {
      const first = new TextEmbedder(model, tokenizer, { cacheDir: dir });
      const computed = first.embed(TEXTS);
      expect(first.lastStats).to.include({ hits: 0, misses: 5, cacheRebuilt: false });
      const file = first.lastStats!.cacheFile!;
      expect(fs.existsSync(file)).to.equal(true);
      expect(fs.readdirSync(dir)).to.deep.equal([path.basename(file)]); // no temporary left behind

      const second = new TextEmbedder(model, tokenizer, { cacheDir: dir });
      const again = second.embed([TEXTS[2]!, 'a new mug', TEXTS[0]!]);
      expect(second.lastStats).to.include({ hits: 2, misses: 1, cacheRebuilt: false });
      const d = second.dimension;
      expect([...again.subarray(0, d)]).to.deep.equal([...computed.subarray(2 * d, 3 * d)]);
      expect([...again.subarray(2 * d, 3 * d)]).to.deep.equal([...computed.subarray(0, d)]);

      // Other settings or other weights are another cache file.
      new TextEmbedder(model, tokenizer, { cacheDir: dir, pooling: 'last' }).embed(TEXTS);
      const other = smallModel(tokenizer, 8);
      try {
        const otherEmbedder = new TextEmbedder(other, tokenizer, { cacheDir: dir });
        otherEmbedder.embed(TEXTS);
        expect(otherEmbedder.lastStats).to.include({ hits: 0, misses: 5 });
      } finally {
        other.dispose();
      }
      expect(fs.readdirSync(dir)).to.have.length(3);

      // A torn or corrupted file is ignored and rewritten whole.
      for (const damage of [
        (bytes: Buffer) => bytes.subarray(0, bytes.length - 7),
        (bytes: Buffer) => {
          const copy = Buffer.from(bytes);
          copy[copy.length - 40]! ^= 0xff;
          return copy;
        },
      ]) {
        fs.writeFileSync(file, damage(fs.readFileSync(file)));
        const third = new TextEmbedder(model, tokenizer, { cacheDir: dir });
        const rebuilt = third.embed(TEXTS);
        expect(third.lastStats).to.include({ hits: 0, misses: 5, cacheRebuilt: true });
        expect([...rebuilt]).to.deep.equal([...computed]);
        const fourth = new TextEmbedder(model, tokenizer, { cacheDir: dir });
        fourth.embed(TEXTS);
        expect(fourth.lastStats).to.include({ hits: 5, misses: 0, cacheRebuilt: false });
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad input and bad options with the problem named', () => {
    const embedder = new TextEmbedder(model, tokenizer);
    expect(() => embedder.embed(['mug', 42 as unknown as string])).to.throw(/text 1 is number, not a string/);
    expect(() => embedder.embed(['mug', ''])).to.throw(/text 1 .* has no tokens/);
    expect(() => embedder.embed('mug' as unknown as string[])).to.throw(/expects an array of strings/);
    expect(embedder.embed([])).to.have.length(0);
    expect(() => new TextEmbedder(model, tokenizer, { pooling: 'max' as 'mean' })).to.throw(/'pooling' must be/);
    expect(() => new TextEmbedder(model, tokenizer, { attention: 'both' as 'causal' })).to.throw(/'attention' must/);
    expect(() => new TextEmbedder(model, tokenizer, { maxTokens: 0 })).to.throw(/'maxTokens' must be a positive/);
    expect(() => new TextEmbedder(model, tokenizer, { maxTokens: 64, batchTokens: 32 })).to.throw(
      /at least 'maxTokens'/,
    );
  });

  it('loads a HF folder with its tokenizer; a folder without tokenizer.json is named', () => {
    const dir = tmpDir();
    try {
      saveCausalLM(dir, model);
      expect(() => TextEmbedder.load(dir)).to.throw(/has no tokenizer.json/);
      tokenizer.save(dir);
      const loaded = TextEmbedder.load(dir);
      try {
        const direct = new TextEmbedder(model, tokenizer).embed(TEXTS);
        expect([...loaded.embed(TEXTS)]).to.deep.equal([...direct]);
      } finally {
        loaded.dispose();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the shipped default language model: loads with no arguments and embeds catalogue titles', () => {
    const dir = defaultLanguageModelDir();
    expect(dir.endsWith(path.join('data', 'models', DEFAULT_LANGUAGE_MODEL))).to.equal(true);
    const embedder = TextEmbedder.load();
    try {
      expect(embedder.model.config.modelType).to.equal('qwen2');
      expect(embedder.tokenizer.vocabSize).to.be.at.most(embedder.model.config.vocabSize);
      const vectors = embedder.embed(["PAPER CHAIN KIT 50'S CHRISTMAS", 'a lantern', 'a mug']);
      expect(vectors.length).to.equal(3 * embedder.dimension);
      expect(vectors.every(Number.isFinite)).to.equal(true);
    } finally {
      embedder.dispose();
    }
    const empty = tmpDir();
    try {
      expect(() => builtLanguageModelDir(empty)).to.throw(
        /is not built \(missing config.json, tokenizer.json\); build it with: npx llmrec lm pretrain --preset mini/,
      );
      expect(() => loadLanguageModel(path.join(empty, 'absent'))).to.throw(/does not exist/);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});
