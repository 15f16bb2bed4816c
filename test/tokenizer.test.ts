// The HF byte-level BPE tokenizer: hand-computed merges on tiny fixtures, the Qwen2 / Llama-3
// pre-tokenizer regexes, added and special tokens, round trips on any Unicode, save/reload, the
// trainer's determinism and speed, and errors on malformed files.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer, byteLevelAlphabet, onigurumaToJs } from '../lib/llm/tokenizer.js';
import { trainByteLevelBpe } from '../lib/llm/bpe-train.js';
import * as data from '../lib/data/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.resolve(here, '../../test/fixtures/tokenizer');
const qwenDir = path.join(fixtures, 'qwen2-tiny');
const llamaDir = path.join(fixtures, 'llama3-tiny');
const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;

/** A seeded generator of text mixing the scripts and whitespace a round trip must survive. */
function randomText(seed: number, length: number): string {
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  const pools = [
    'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
    ' ',
    '  \t\n\r\n',
    '.,;:!?\'"()[]{}<>-_/\\@#$%^&*+=~`|',
    'éèêëàâäîïôöûüçñÅØßœæ',
    '中文字符日本語한국어',
    '😀🎉👍🏽🇫🇷👩‍💻',
    'Ωπ∑∞≈ЖДЯ',
  ];
  let out = '';
  for (let i = 0; i < length; i++) {
    const pool = [...pools[Math.floor(next() * pools.length)]!];
    out += pool[Math.floor(next() * pool.length)];
  }
  return out;
}

const corpus = [
  'White hanging heart T-light holder',
  'Cream cupid hearts coat hanger',
  'Knitted Union Flag hot water bottle',
  'Red woolly hottie white heart.',
  'Set 7 babushka nesting boxes',
  'Glass star frosted T-light holder',
  'Hand warmer union jack',
  'Hand warmer red polka dot',
  'Café crème brûlée — naïve façade',
  '日本語のテキストと中文文本',
  'Emoji 😀 party 🎉 and flags 🇫🇷',
  "It's the users' favourite; they'll LOVE it, I'M sure",
  'Numbers 12345 and 3.14159\nnew line\n\n  indented\ttab',
];

describe('tokenizer: tiny hand-made fixtures', () => {
  it('applies merges by rank, leftmost first among equals (Qwen2 pipeline)', () => {
    const tok = Tokenizer.fromFile(qwenDir);
    // l o w → lo w (rank 0) → low (rank 1)
    expect(tok.encode('low')).to.deep.equal([12]);
    // l o w e r → low e r → low er (rank 2)
    expect(tok.encode('lower')).to.deep.equal([12, 13]);
    // Ġ l o w: (l,o) rank 0 beats (Ġ,l) rank 3, then low, then Ġ low (rank 4)
    expect(tok.encode(' low')).to.deep.equal([15]);
    // Ġ l o w e s t → Ġlow e s t → Ġlow es t → Ġlow est
    expect(tok.encode(' lowest')).to.deep.equal([15, 17]);
    // n e w e r: only (e,r) merges
    expect(tok.encode('newer')).to.deep.equal([6, 3, 2, 13]);
    // o o o: the leftmost pair merges first
    expect(tok.encode('ooo')).to.deep.equal([19, 1]);
    // l o l o → lo lo → lolo
    expect(tok.encode('lolo')).to.deep.equal([18]);
    expect(tok.tokenize('lower lowest')).to.deep.equal(['low', 'er', 'Ġlow', 'est']);
    expect(tok.decode([15, 17, 12, 13])).to.equal(' lowestlower');
  });

  it('reads the pieces of tokenizer.json and tokenizer_config.json', () => {
    const tok = Tokenizer.fromFile(path.join(qwenDir, 'tokenizer.json'));
    expect(tok.vocabSize).to.equal(23);
    expect(tok.tokenToId('Ġlow')).to.equal(15);
    expect(tok.idToToken(17)).to.equal('est');
    expect(tok.tokenToId('<|endoftext|>')).to.equal(20);
    expect(tok.idToToken(99)).to.equal(undefined);
    expect(tok.specialToken('eos')).to.equal('<|endoftext|>');
    expect(tok.padTokenId).to.equal(20);
    expect(tok.bosTokenId).to.equal(null);
    expect(tok.merges()[4]).to.deep.equal(['Ġ', 'low']);
  });

  it('matches added tokens before pre-tokenization and never splits them', () => {
    const tok = Tokenizer.fromFile(qwenDir);
    expect(tok.encode('low<|endoftext|>lower')).to.deep.equal([12, 20, 12, 13]);
    expect(tok.encode('<|im_start|><|endoftext|> low')).to.deep.equal([21, 20, 15]);
    // A normal added token matches after NFC, and wins over the BPE merges it overlaps.
    expect(tok.encode('lowlowlower')).to.deep.equal([22, 12, 13]);
    expect(tok.decode([21, 12, 20, 22], { skipSpecialTokens: true })).to.equal('lowlowlow');
    expect(tok.decode([21, 12, 20])).to.equal('<|im_start|>low<|endoftext|>');
  });

  it('Llama-3 pipeline: ignore_merges, BOS template, (?i:) contractions, digit triples', () => {
    const tok = Tokenizer.fromFile(llamaDir);
    // ignore_merges: a word already in the vocab is one token, though no merge path reaches it.
    expect(tok.encode('newer', { addSpecialTokens: false })).to.deep.equal([20]);
    expect(tok.encode('newer lower')).to.deep.equal([22, 20, 15, 13]);
    expect(tok.encode(' newer', { addSpecialTokens: true })).to.deep.equal([22, 21]);
    expect(tok.bosTokenId).to.equal(22);
    expect(tok.decode(tok.encode('lower'), { skipSpecialTokens: true })).to.equal('lower');
    expect(tok.decode(tok.encode('lower'))).to.equal('<|begin_of_text|>lower');
    // (?i:'s) takes "'S" before the letter run would take "'Sup".
    expect(tok.preTokenizeForTraining("HE'Sup")).to.deep.equal(['HE', "'S", 'up']);
    expect(tok.preTokenizeForTraining('12345')).to.deep.equal(['123', '45']);
    const qwen = Tokenizer.fromFile(qwenDir);
    expect(qwen.preTokenizeForTraining('12345')).to.deep.equal(['1', '2', '3', '4', '5']);
    expect(qwen.preTokenizeForTraining("it's  a\n\n b")).to.deep.equal(['it', "'s", 'Ġ', 'Ġa', 'ĊĊ', 'Ġb']);
  });

  it('GPT-2 ByteLevel pre-tokenizer with its own regex and prefix space', () => {
    const json = readJson(path.join(qwenDir, 'tokenizer.json'));
    json.pre_tokenizer = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true };
    json.normalizer = null;
    const tok = Tokenizer.fromJson(json);
    expect(tok.preTokenizeForTraining("hello world's  end")).to.deep.equal(['Ġhello', 'Ġworld', "'s", 'Ġ', 'Ġend']);
    expect(tok.encode('low')).to.deep.equal([15]);
  });

  it('Split behaviors match the HF documentation example', () => {
    const json = readJson(path.join(qwenDir, 'tokenizer.json'));
    json.normalizer = null;
    const split = (behavior: string, invert = false) => {
      json.pre_tokenizer = { type: 'Split', pattern: { String: '-' }, behavior, invert };
      return Tokenizer.fromJson(json).preTokenizeForTraining('the-final--countdown');
    };
    expect(split('Removed')).to.deep.equal(['the', 'final', 'countdown']);
    expect(split('Isolated')).to.deep.equal(['the', '-', 'final', '-', '-', 'countdown']);
    expect(split('MergedWithPrevious')).to.deep.equal(['the-', 'final-', '-', 'countdown']);
    expect(split('MergedWithNext')).to.deep.equal(['the', '-final', '-', '-countdown']);
    expect(split('Contiguous')).to.deep.equal(['the', '-', 'final', '--', 'countdown']);
    expect(split('Removed', true)).to.deep.equal(['-', '-', '-']);
  });

  it('translates Oniguruma patterns', () => {
    const js = new RegExp(onigurumaToJs("(?i:'s|a[b-c]d)|x\\sy\\S"), 'u');
    expect(js.test("'S")).to.equal(true);
    expect(js.test('ACD')).to.equal(true);
    expect(js.test('aBd')).to.equal(true);
    expect(new RegExp(`^(?:${onigurumaToJs("(?i:'s)|x")})$`, 'u').test('X')).to.equal(false);
    // Oniguruma's \s is White_Space: NEL yes, BOM no.
    expect(js.test('x\u0085yz')).to.equal(true);
    expect(new RegExp(`^${onigurumaToJs('\\s')}$`, 'u').test('\ufeff')).to.equal(false);
  });
});

describe('tokenizer: special tokens', () => {
  it('addSpecialTokens appends ids after the vocab; they are never split and round-trip', () => {
    const tok = Tokenizer.fromFile(qwenDir);
    const names = ['[HistoryEmb]', '[UserOut]', '[ItemOut]', '[CandidateEmb]', '[PAD]'];
    const ids = tok.addSpecialTokens(names);
    expect(ids).to.deep.equal([23, 24, 25, 26, 27]);
    expect(tok.vocabSize).to.equal(28);
    // Adding again, or adding a known token, gives the existing id.
    expect(tok.addSpecialTokens(['[ItemOut]', '<|endoftext|>', 'low'])).to.deep.equal([25, 20, 12]);
    expect(tok.vocabSize).to.equal(28);
    expect(tok.setSpecialToken('pad', '[PAD]')).to.equal(27);
    expect(tok.padTokenId).to.equal(27);
    expect(tok.encode('newer[HistoryEmb][UserOut][ItemOut][CandidateEmb]')).to.deep.equal([
      6, 3, 2, 13, 23, 24, 25, 26,
    ]);
    // 'low' is now an added token too, so it is cut out before pre-tokenization: ' low' is Ġ + low.
    expect(tok.encode('lower low')).to.deep.equal([12, 13, 5, 12]);
    expect(tok.encode('[[PAD]]')).to.deep.equal([27]);
    expect(tok.decode([23, 12, 27])).to.equal('[HistoryEmb]low[PAD]');
    expect(tok.decode([23, 13, 27, 12], { skipSpecialTokens: true })).to.equal('er');
    const [dashed] = tok.addSpecialTokens(['<|fim-middle|>']);
    expect(tok.encode('low<|fim-middle|>er')).to.deep.equal([12, dashed, 13]);
    expect(() => tok.addSpecialTokens([''])).to.throw(
      'Tokenizer.addSpecialTokens: tokens[0] must be a non-empty string',
    );
  });

  it('saves added special tokens and roles, and reloads them', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'llmrec-tok-'));
    try {
      const tok = Tokenizer.fromFile(llamaDir);
      tok.addSpecialTokens(['[HistoryEmb]', '[ItemOut]']);
      tok.setSpecialToken('pad', '[PAD]');
      tok.save(dir);
      const back = Tokenizer.fromFile(dir);
      expect(back.vocabSize).to.equal(27);
      expect(back.padTokenId).to.equal(26);
      expect(back.bosTokenId).to.equal(22);
      const text = 'lower[HistoryEmb] newer[ItemOut][PAD]';
      expect(back.encode(text)).to.deep.equal(tok.encode(text));
      const config = readJson(path.join(dir, 'tokenizer_config.json'));
      expect(config.additional_special_tokens).to.deep.equal(['[HistoryEmb]', '[ItemOut]']);
      expect((config.added_tokens_decoder as Record<string, { content: string }>)['26']!.content).to.equal('[PAD]');
      expect(config.model_max_length).to.equal(131072);
      const saved = readJson(path.join(dir, 'tokenizer.json'));
      expect((saved.model as { merges: unknown[] }).merges[0]).to.equal('l o');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('tokenizer: training and round trips', () => {
  it('trains deterministically and reloads to an identical encoder', () => {
    const a = trainByteLevelBpe(corpus, { vocabSize: 300, minFrequency: 2 });
    const b = trainByteLevelBpe([...corpus].reverse(), { vocabSize: 300, minFrequency: 2 });
    expect(a.merges()).to.deep.equal(b.merges());
    expect(a.merges().length).to.be.greaterThan(10);
    // The most frequent pair goes first; every merge's parts already exist.
    const known = new Set(a.merges().length ? [...a.vocab().keys()].filter((t) => [...t].length === 1) : []);
    for (const [left, right] of a.merges()) {
      expect(known.has(left) && known.has(right), `${left} ${right}`).to.equal(true);
      known.add(left + right);
    }
    expect(a.tokenToId('<|endoftext|>')).to.equal(a.vocabSize - 1);
    expect(a.specialToken('eos')).to.equal('<|endoftext|>');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'llmrec-tok-'));
    try {
      a.save(dir);
      const back = Tokenizer.fromFile(dir);
      expect(back.vocabSize).to.equal(a.vocabSize);
      for (const text of [...corpus, randomText(7, 300)]) expect(back.encode(text)).to.deep.equal(a.encode(text));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('matches a brute-force trainer that recounts every pair at every step', () => {
    const vocabSize = 420;
    const trained = trainByteLevelBpe(corpus, { vocabSize, specialTokens: [], minFrequency: 1, normalizer: null });
    const counts = new Map<string, number>();
    for (const text of corpus)
      for (const w of trained.preTokenizeForTraining(text)) counts.set(w, (counts.get(w) ?? 0) + 1);
    const ids = new Map(byteLevelAlphabet().map((ch, i) => [ch, i]));
    const words = [...counts].map(([w, n]) => ({ symbols: [...w], n }));
    const merges: [string, string][] = [];
    while (ids.size < vocabSize) {
      const pairs = new Map<string, { left: string; right: string; n: number }>();
      for (const { symbols, n } of words) {
        for (let i = 0; i + 1 < symbols.length; i++) {
          const key = `${symbols[i]}\u0000${symbols[i + 1]}`;
          const entry = pairs.get(key) ?? { left: symbols[i]!, right: symbols[i + 1]!, n: 0 };
          entry.n += n;
          pairs.set(key, entry);
        }
      }
      let best: { left: string; right: string; n: number } | undefined;
      for (const p of pairs.values()) {
        const order = best
          ? p.n - best.n || ids.get(best.left)! - ids.get(p.left)! || ids.get(best.right)! - ids.get(p.right)!
          : 1;
        if (order > 0) best = p;
      }
      if (!best) break;
      merges.push([best.left, best.right]);
      ids.set(best.left + best.right, ids.size);
      for (const word of words) {
        const next: string[] = [];
        for (let i = 0; i < word.symbols.length; i++) {
          if (word.symbols[i] === best.left && word.symbols[i + 1] === best.right) {
            next.push(best.left + best.right);
            i++;
          } else next.push(word.symbols[i]!);
        }
        word.symbols = next;
      }
    }
    expect(merges.length).to.equal(vocabSize - 256);
    expect(trained.merges()).to.deep.equal(merges);
  });

  it('merges long words (heap) and short words (scan) exactly as the rank-order definition', () => {
    const trained = trainByteLevelBpe(corpus, { vocabSize: 500, minFrequency: 1, normalizer: null });
    const json = trained.toJson();
    // One word per text: no regex split, so words run to hundreds of symbols.
    json.pre_tokenizer = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
    const whole = Tokenizer.fromJson(json);
    const ranks = new Map(trained.merges().map(([a, b], rank) => [`${a} ${b}`, rank]));
    const reference = (word: string) => {
      const symbols = [...word];
      for (;;) {
        let at = -1;
        let best = Infinity;
        for (let i = 0; i + 1 < symbols.length; i++) {
          const rank = ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
          if (rank !== undefined && rank < best) [best, at] = [rank, i];
        }
        if (at < 0) return symbols;
        symbols.splice(at, 2, symbols[at]! + symbols[at + 1]!);
      }
    };
    const texts = [corpus.join(' '), corpus.join(''), 'hand warmer '.repeat(40), randomText(3, 400), randomText(4, 10)];
    for (const text of texts) {
      const [word] = whole.preTokenizeForTraining(text);
      expect(whole.tokenize(text)).to.deep.equal(reference(word!));
      expect(whole.decode(whole.encode(text))).to.equal(text);
    }
  });

  it('merge counts: the first merge is the most frequent pair, ties to the smaller ids', () => {
    const tok = trainByteLevelBpe(['ab ab ab cd cd cd', 'xy'], { vocabSize: 258, specialTokens: [], minFrequency: 1 });
    // (a,b), (c,d) and (Ġ,c) count 3 each: ties go to the smaller ids, and a, c come before Ġ.
    expect(tok.merges()).to.deep.equal([
      ['a', 'b'],
      ['c', 'd'],
    ]);
    expect(tok.encode('ab cd')).to.deep.equal([256, tok.tokenToId('Ġ'), 257]);
    const stopped = trainByteLevelBpe(['ab ab', 'cd'], { vocabSize: 400, specialTokens: [], minFrequency: 2 });
    expect(stopped.merges()).to.deep.equal([['a', 'b']]);
  });

  it('round-trips ASCII, accents, CJK, emoji, whitespace runs and newlines exactly', () => {
    const tok = trainByteLevelBpe(corpus, { vocabSize: 400, normalizer: null });
    const samples = [
      'plain ASCII text, with punctuation!',
      'Crème brûlée à la façade, naïve Ångström',
      '中文分词测试，日本語のテキスト、한국어 문장',
      'emoji 😀🎉👍🏽 family 👨‍👩‍👧 flag 🇫🇷',
      'runs    of   spaces\t\ttabs   ',
      '\n\nnew\r\nlines\n \n  \n',
      ' leading and trailing ',
      'e\u0301 decomposed accent and \u00e9 composed',
      '',
    ];
    for (let seed = 1; seed <= 40; seed++) samples.push(randomText(seed, 80));
    for (const text of samples) {
      const ids = tok.encode(text);
      expect(tok.decode(ids), JSON.stringify(text)).to.equal(text);
    }
    const nfc = trainByteLevelBpe(corpus, { vocabSize: 400 });
    expect(nfc.decode(nfc.encode('e\u0301'))).to.equal('\u00e9');
    for (let seed = 100; seed < 120; seed++) {
      const text = randomText(seed, 60).normalize('NFC');
      expect(nfc.decode(nfc.encode(text))).to.equal(text);
    }
  });

  it('trains a 2k vocabulary on the embedded dataset titles quickly', async () => {
    const { dataset } = await data.loadDefaultDataset();
    const titles = dataset.titles.filter((t) => t.length > 0);
    expect(titles.length).to.be.greaterThan(1000);
    const start = performance.now();
    const tok = trainByteLevelBpe(titles, { vocabSize: 2048, specialTokens: ['<|endoftext|>', '[PAD]'] });
    const seconds = (performance.now() - start) / 1000;
    expect(seconds).to.be.lessThan(10);
    expect(tok.vocabSize).to.equal(2048);
    let tokens = 0;
    let bytes = 0;
    for (const title of titles.slice(0, 500)) {
      const ids = tok.encode(title);
      expect(tok.decode(ids)).to.equal(title.normalize('NFC'));
      tokens += ids.length;
      bytes += Buffer.byteLength(title);
    }
    // A trained vocabulary compresses its own text well below one token per byte.
    expect(tokens / bytes).to.be.lessThan(0.4);
  });

  it('llmrec tokenizer train/encode writes a tokenizer that loads and encodes', () => {
    const cli = path.resolve(here, '../lib/cli/main.js');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'llmrec-tok-'));
    try {
      const trained = spawnSync(process.execPath, [cli, 'tokenizer', 'train', '--out', dir, '--vocab-size', '600'], {
        encoding: 'utf8',
      });
      expect(trained.status, trained.stderr).to.equal(0);
      expect(trained.stdout).to.match(/vocab 600, 343 merges/);
      const tok = Tokenizer.fromFile(dir);
      const encoded = spawnSync(process.execPath, [cli, 'tokenizer', 'encode', '--tokenizer', dir, 'WHITE HEART'], {
        encoding: 'utf8',
      });
      expect(encoded.status, encoded.stderr).to.equal(0);
      expect(JSON.parse(encoded.stdout).ids).to.deep.equal(tok.encode('WHITE HEART'));
      const bad = spawnSync(process.execPath, [cli, 'tokenizer', 'train'], { encoding: 'utf8' });
      expect(bad.stderr).to.contain('llmrec tokenizer: train needs --out DIR');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad training options', () => {
    expect(() => trainByteLevelBpe(corpus, { vocabSize: 100 })).to.throw(
      'trainByteLevelBpe: vocabSize must be an integer >= 257',
    );
    expect(() => trainByteLevelBpe(corpus, { vocabSize: 300, minFrequency: 0 })).to.throw('minFrequency');
    expect(() => trainByteLevelBpe(corpus, { vocabSize: 300, eosToken: '[X]' })).to.throw('eosToken "[X]"');
  });
});

describe('tokenizer: malformed files', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- mutations reach into arbitrary JSON
  type Editable = Record<string, any>;
  const base = () => readJson(path.join(qwenDir, 'tokenizer.json')) as Editable;
  const cases: [string, (json: Editable) => void, string][] = [
    ['model type', (j) => (j.model.type = 'WordPiece'), "model.type: only 'BPE' models are supported"],
    ['missing vocab', (j) => delete j.model.vocab, 'model.vocab: expected an object'],
    ['bad id', (j) => (j.model.vocab.lo = -1), 'model.vocab["lo"]: expected a non-negative integer id'],
    [
      'merge with unknown token',
      (j) => (j.model.merges[2] = 'e x'),
      'model.merges[2]: token "x" is not in model.vocab',
    ],
    ['merge of three', (j) => (j.model.merges[1] = 'l o w'), 'model.merges[1]: expected exactly two tokens'],
    [
      'merged token absent',
      (j) => (j.model.merges[3] = 'Ġ o'),
      'model.merges[3]: merged token "Ġo" is not in model.vocab',
    ],
    ['byte fallback', (j) => (j.model.byte_fallback = true), 'model.byte_fallback'],
    ['normalizer', (j) => (j.normalizer = { type: 'Strip' }), "normalizer.type: normalizer 'Strip' is not supported"],
    [
      'split behavior',
      (j) => (j.pre_tokenizer.pretokenizers[0].behavior = 'Sideways'),
      'pre_tokenizer.pretokenizers[0].behavior: expected one of Isolated',
    ],
    [
      'bad regex',
      (j) => (j.pre_tokenizer.pretokenizers[0].pattern = { Regex: '(unclosed' }),
      'pre_tokenizer.pretokenizers[0].pattern.Regex: cannot compile the regex',
    ],
    ['decoder', (j) => (j.decoder = { type: 'WordPiece' }), "decoder.type: decoder 'WordPiece' is not supported"],
    ['added token', (j) => delete j.added_tokens[1].content, 'added_tokens[1].content: expected a string'],
    [
      'template',
      (j) =>
        (j.post_processor = {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: '<s>' } }],
          special_tokens: {},
        }),
      'post_processor.special_tokens["<s>"]: expected an object',
    ],
  ];
  for (const [name, mutate, message] of cases) {
    it(`names the field: ${name}`, () => {
      const json = base();
      mutate(json);
      expect(() => Tokenizer.fromJson(json)).to.throw(`Tokenizer: ${message}`);
      const dir = mkdtempSync(path.join(os.tmpdir(), 'llmrec-tok-'));
      try {
        writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(json));
        expect(() => Tokenizer.fromFile(dir)).to.throw(
          `Tokenizer.fromFile: ${path.join(dir, 'tokenizer.json')}: ${message}`,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('names missing files, invalid JSON, unknown config roles and bad ids', () => {
    expect(() => Tokenizer.fromFile('/nonexistent/tok')).to.throw(
      'Tokenizer.fromFile: /nonexistent/tok does not exist',
    );
    const dir = mkdtempSync(path.join(os.tmpdir(), 'llmrec-tok-'));
    try {
      expect(() => Tokenizer.fromFile(dir)).to.throw(`Tokenizer.fromFile: ${dir} has no tokenizer.json`);
      writeFileSync(path.join(dir, 'tokenizer.json'), '{"model": ');
      expect(() => Tokenizer.fromFile(dir)).to.throw('is not valid JSON');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(() => Tokenizer.fromJson(base(), { eos_token: '</s>' })).to.throw(
      'Tokenizer: tokenizer_config.eos_token: "</s>" is neither in the vocab nor an added token',
    );
    const tok = Tokenizer.fromFile(qwenDir);
    expect(() => tok.decode([1, 500])).to.throw('Tokenizer.decode: ids[1] = 500 is not a token id (vocabSize 23)');
  });
});
