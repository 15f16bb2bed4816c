import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { generate, loadLanguageModel, presetConfig, type CausalLMConfig } from '../lib/index.js';
import { parseWordNetLine, readCorpus, readWordNet, retailDocuments, wordNetDocuments } from '../lib/llm/corpus.js';
import { pretrainLanguageModel, type PretrainOptions } from '../lib/llm/pretrain.js';
import type { ProgressEvent } from '../lib/train/progress.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const wordnetFixture = path.join(root, 'test', 'fixtures', 'wordnet');
const cli = path.join(root, 'dist', 'lib', 'cli', 'main.js');

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'llmrec-pretrain-'));
}

describe('lm corpus: WordNet data files and the embedded item titles', () => {
  it('parses synsets: words (underscores, adjective markers), definition and quoted examples', () => {
    const synsets = readWordNet(wordnetFixture);
    expect(synsets.map((s) => s.words[0])).to.deep.equal(['lamp', 'mug', 'sedate', 'gay', 'outback', 'brilliantly']);
    const lamp = synsets[0]!;
    expect(lamp).to.deep.include({
      offset: '03636248',
      pos: 'n',
      definition: 'an artificial source of visible illumination',
    });
    expect(lamp.examples).to.deep.equal([]);
    const gay = synsets.find((s) => s.words[0] === 'gay')!;
    expect(gay.words).to.deep.equal(['gay', 'festal', 'festive', 'merry']);
    expect(gay.definition).to.equal('offering fun and gaiety');
    expect(gay.examples).to.deep.equal([
      'a festive (or festal) occasion',
      'gay and exciting night life',
      'a merry evening',
    ]);
    expect(synsets.find((s) => s.words[0] === 'outback')!.definition).to.equal('inaccessible and sparsely populated');
    const documents = wordNetDocuments(wordnetFixture);
    expect(documents).to.include('mug: with handle and usually cylindrical');
    expect(documents).to.include(
      'sedate, calm, tranquilize, tranquillize, tranquillise: cause to be calm or quiet as by administering a sedative to',
    );
    expect(documents).to.include('The patient must be sedated before the operation');
  });

  it('names the Debian package when a data file is missing, and the line of a malformed one', () => {
    const dir = tmpDir();
    try {
      expect(() => readWordNet(dir)).to.throw(
        /data\.noun does not exist; it comes with the Debian package wordnet-base/,
      );
      for (const f of fs.readdirSync(wordnetFixture)) fs.copyFileSync(path.join(wordnetFixture, f), path.join(dir, f));
      fs.appendFileSync(path.join(dir, 'data.verb'), '00000001 29 v zz broken\n');
      expect(() => readWordNet(dir)).to.throw(/data\.verb:4: no " \| " before the gloss/);
      expect(() => parseWordNetLine('12345678 00 n 05 a 0 | too few words')).to.throw(/synset header/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the retail source: both catalogues, distinct titles as written and in lower case', () => {
    const documents = retailDocuments();
    expect(documents.length % 2).to.equal(0);
    expect(documents.length).to.be.greaterThan(6000);
    expect(documents[0]).to.equal(documents[0]!.toUpperCase());
    expect(documents[1]).to.equal(documents[0]!.toLowerCase());
    expect(new Set(documents.filter((_, i) => i % 2 === 0)).size).to.equal(documents.length / 2);
    expect(() => readCorpus(['no/such/corpus.txt'])).to.throw(/no\/such\/corpus.txt does not exist/);
  });
});

describe('lm pretrain', () => {
  const words = ['red', 'green', 'paper', 'glass', 'lantern', 'mug', 'candle', 'holder', 'star', 'heart'];
  /** A few hundred short documents made of a small vocabulary. */
  function writeCorpus(dir: string): string {
    const file = path.join(dir, 'corpus.txt');
    const lines: string[] = [];
    for (let i = 0; i < 300; i++)
      lines.push(`the ${words[i % 10]} ${words[(i * 7) % 10]} is a ${words[(i * 3) % 10]} ${words[(i + 4) % 10]}`);
    fs.writeFileSync(file, lines.join('\n') + '\n');
    return file;
  }

  const shape: CausalLMConfig = { ...presetConfig('tiny'), hiddenSize: 32, intermediateSize: 48, headDim: 8 };

  function settings(dir: string, corpus: string, out: string): PretrainOptions {
    return {
      out: path.join(dir, out),
      checkpointDir: path.join(dir, `${out}.checkpoints`),
      config: { ...shape, vocabSize: 300 },
      context: 16,
      corpus: [corpus, 'wordnet'],
      wordnetDir: wordnetFixture,
      tokens: 4 * 16 * 14,
      batchSize: 4,
      lr: 3e-3,
      heldOutPerMille: 100,
      seed: 3,
      dtype: 'f32',
      checkpointEvery: 4,
    };
  }

  it('trains, writes a HF folder that loads and generates, and resumes exactly after an interruption', async () => {
    const dir = tmpDir();
    try {
      const corpus = writeCorpus(dir);
      const events: ProgressEvent[] = [];
      const full = await pretrainLanguageModel({
        ...settings(dir, corpus, 'full'),
        progress: { emit: (e) => events.push(e) },
      });
      expect(full.steps).to.equal(14);
      expect(full.tokensSeen).to.equal(14 * 64);
      expect(full.resumedFromStep).to.equal(null);
      expect(full.corpus.map((c) => c.source)).to.deep.equal([corpus, 'wordnet']);
      expect(full.heldOutDocuments).to.be.greaterThan(0);
      const losses = events.filter((e) => e.event === 'step').map((e) => e.loss as number);
      expect(losses.at(-1)).to.be.lessThan(losses[0]! - 0.5);
      expect(full.heldOutLoss).to.be.lessThan(Math.log(full.vocabSize));
      for (const file of [
        'config.json',
        'model.safetensors',
        'tokenizer.json',
        'tokenizer_config.json',
        'generation_config.json',
      ])
        expect(fs.existsSync(path.join(full.out, file)), file).to.equal(true);

      // Interrupted after step 6 (the last checkpoint is step 4), then resumed: the same weights.
      const interrupted = settings(dir, corpus, 'resumed');
      let failure: unknown;
      try {
        await pretrainLanguageModel({
          ...interrupted,
          progress: {
            emit: (e) => {
              if (e.event === 'step' && e.step === 6) throw new Error('simulated interruption');
            },
          },
        });
      } catch (error) {
        failure = error;
      }
      expect((failure as Error).message).to.equal('simulated interruption');
      await pretrainLanguageModel({ ...interrupted, resume: false }).then(
        () => expect.fail('a second start over existing checkpoints must be refused'),
        (error: Error) => expect(error.message).to.match(/already holds checkpoints; pass --resume/),
      );
      await pretrainLanguageModel({ ...interrupted, lr: 1e-3, resume: true }).then(
        () => expect.fail('resuming with other settings must be refused'),
        (error: Error) => expect(error.message).to.match(/started with other settings \(lr\)/),
      );
      const resumed = await pretrainLanguageModel({ ...interrupted, resume: true });
      expect(resumed.resumedFromStep).to.equal(4);
      expect(resumed.steps).to.equal(14);
      expect(resumed.heldOutLoss).to.equal(full.heldOutLoss);
      expect(
        fs
          .readFileSync(path.join(resumed.out, 'model.safetensors'))
          .equals(fs.readFileSync(path.join(full.out, 'model.safetensors'))),
      ).to.equal(true);

      const { model, tokenizer } = loadLanguageModel(full.out);
      try {
        const prompt = tokenizer.encode('the red');
        const result = generate(model, [prompt], { maxNewTokens: 4 });
        expect(result.tokens[0]!.length).to.be.within(1, 4);
        expect(tokenizer.decode(result.tokens[0]!)).to.be.a('string');
      } finally {
        model.dispose();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('llmrec lm pretrain --help lists the options; bad flags are usage errors', () => {
    const help = spawnSync(process.execPath, [cli, 'lm', 'pretrain', '--help'], { encoding: 'utf8' });
    expect(help.status).to.equal(0);
    for (const flag of ['--corpus', '--tokens', '--resume', '--checkpoint-dir', '--device', '--preset', '--context'])
      expect(help.stdout).to.contain(flag);
    const bad = spawnSync(process.execPath, [cli, 'lm', 'pretrain', '--out', '/tmp/x', '--heads', '3'], {
      encoding: 'utf8',
    });
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.match(/--hidden-size 128 is not divisible by --heads 3/);
  });

  it('llmrec lm generate continues the WordNet-style prompts with the shipped model, as generate() does', () => {
    const run = spawnSync(process.execPath, [cli, 'lm', 'generate', '--max-new-tokens', '8'], { encoding: 'utf8' });
    expect(run.status, run.stderr).to.equal(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).to.match(/^# .*wordnet-retail-lm$/);
    const { model, tokenizer } = loadLanguageModel();
    try {
      const prompts = ['lantern:', 'mug:', 'christmas tree:'];
      const eos = tokenizer.eosTokenId!;
      const ids = prompts.map((p) => [eos, ...tokenizer.encode(p, { addSpecialTokens: false })]);
      const result = generate(model, ids, { maxNewTokens: 8, repetitionPenalty: 1.2 });
      const expected = prompts.map(
        (p, i) => p + tokenizer.decode(result.tokens[i]!, { skipSpecialTokens: true }).replace(/\n/g, ' '),
      );
      expect(lines.slice(1)).to.deep.equal(expected);
      expect(result.tokens.every((t) => t.length > 0)).to.equal(true);
    } finally {
      model.dispose();
    }
    const bad = spawnSync(process.execPath, [cli, 'lm', 'generate', '--prompt', ''], { encoding: 'utf8' });
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.match(/--prompt 1 is empty/);
    const missing = spawnSync(process.execPath, [cli, 'lm', 'generate', '--lm', '/no/such/model'], {
      encoding: 'utf8',
    });
    expect(missing.status).to.equal(1);
    expect(missing.stderr).to.match(/\/no\/such\/model does not exist/);
  });
});
