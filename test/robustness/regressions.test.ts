// Regression tests for the defects of issue 12 found from outside (the CLI, data files, run
// folders, the Recommender): each failed before its fix.
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';

import { io, Recommender } from '../../lib/index.js';
import { runCli, tempDir, tinyTrainArgs, writeTinyInter } from './support.js';

describe('robustness: command line and served models (issue 12)', function () {
  this.timeout(240_000);
  let dir: string;
  let data: string;
  let run: string;
  let trained: ReturnType<typeof runCli>;

  before(() => {
    dir = tempDir('regressions');
    data = writeTinyInter(path.join(dir, 'tiny.inter'));
    run = path.join(dir, 'run');
    trained = runCli(tinyTrainArgs(data, run));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a catalogue under 100 items is evaluated with fewer sampled candidates, and the output says so', () => {
    expect(trained.status, trained.stderr).to.equal(0);
    expect(trained.stderr).to.match(
      /40 items are too few for 1\+99 sampled candidates; the sampled metrics rank 1\+\d+/,
    );
    expect(trained.stdout).to.match(/hr@10 \(1\+\d+\)/);
    expect(trained.stdout).not.to.match(/1\+99/);
  });

  it('integers refuse "" and 0x1, extra positionals are refused, --eval-every must be positive', () => {
    const cases: [string[], RegExp][] = [
      [['train', 'sasrec', '--epochs', ''], /--epochs takes an integer, got ''/],
      [['train', 'sasrec', '--epochs', '0x1'], /--epochs takes an integer, got '0x1'/],
      [['train', 'sasrec', '--lr', '0x10'], /--lr takes a number, got '0x10'/],
      [['train', 'sasrec', '--lr', ' '], /--lr takes a number/],
      [['train', 'sasrec', 'gru4rec'], /train takes one model; unexpected: gru4rec/],
      [['train', 'sasrec', '--eval-every', '0'], /--eval-every must be at least 1, got 0/],
      [['train', 'sasrec', '--eval-every', '-1'], /--eval-every must be at least 1, got -1/],
      [['info', 'extra'], /takes no positional arguments; unexpected: extra/],
      [['eval', 'runs/x'], /takes no positional arguments; unexpected: runs\/x/],
      [['tokenizer', 'train', 'stray', '--out', dir], /train takes no text; unexpected: stray/],
    ];
    for (const [args, message] of cases) {
      const r = runCli(args);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).to.equal(2);
      expect(r.stderr, args.join(' ')).to.match(message);
    }
  });

  it('a usage error prints its message and where help is, not the whole help', () => {
    const r = runCli(['train', 'sasrec', '--bogus']);
    expect(r.status).to.equal(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).to.have.length(2);
    expect(lines[0]).to.match(/^llmrec train: unknown option --bogus/);
    expect(lines[1]).to.equal("Run 'llmrec train --help' for its usage and options.");
    const unknown = runCli(['trian']);
    expect(unknown.status).to.equal(2);
    expect(unknown.stderr.trim().split('\n')).to.deep.equal([
      "llmrec: unknown command 'trian'; did you mean train?",
      "Run 'llmrec --help' for the list of commands.",
    ]);
  });

  it('binary data and a non-gzip .gz are named as such, not as "empty (no header)"', () => {
    const binary = path.join(dir, 'garbage.inter');
    // Bytes that are never valid UTF-8 (0xff), with line breaks.
    fs.writeFileSync(binary, Buffer.from(Array.from({ length: 3000 }, (_, i) => (i % 97 === 0 ? 10 : 0xff))));
    const r = runCli(['data', 'inspect', binary, '--format', 'recbole']);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/garbage\.inter is not text: none of its \d+ lines is valid UTF-8/);
    const fakeGz = path.join(dir, 'fake.inter.gz');
    fs.writeFileSync(fakeGz, 'user_id:token\titem_id:token\n');
    const gz = runCli(['data', 'inspect', fakeGz]);
    expect(gz.status).to.equal(1);
    expect(gz.stderr).to.match(/incorrect header check/);
    const folder = runCli(['data', 'inspect', dir, '--format', 'recbole']);
    expect(folder.stderr).not.to.match(/empty \(no header\)/);
  });

  it('a diverged retrain (--lr 1e30) exits non-zero and leaves the good model servable', async () => {
    expect(trained.status, trained.stderr).to.equal(0);
    const model = path.join(run, 'train', 'model.safetensors');
    const before = fs.readFileSync(model);
    const diverged = runCli([...tinyTrainArgs(data, run), '--lr', '1e30']);
    expect(diverged.status, diverged.stderr).to.equal(1);
    expect(diverged.stderr).to.match(/sasrec diverged \(.*\); nothing was saved: try a lower --lr/);
    expect(fs.readFileSync(model).equals(before)).to.equal(true);
    const rec = await Recommender.load(run);
    try {
      const answer = await rec.recommend(['i1', 'i2'], { k: 3 });
      expect(answer).to.have.length(3);
      for (const r of answer) expect(Number.isFinite(r.score)).to.equal(true);
    } finally {
      await rec.close();
    }
  });

  it('Recommender options of the wrong kind are rejected (never thrown), naming the field', async () => {
    const rec = await Recommender.load(run);
    try {
      const refusals: [unknown[], RegExp][] = [
        [[['i1'], null], /options must be an object, got null/],
        [[['i1'], 5], /options must be an object, got 5/],
        [[['i1'], { unknownItems: 'explode' }], /unknownItems must be 'ignore' or 'error', got 'explode'/],
        [[['i1'], { exclude: 'abc' }], /exclude must be an array of item ids, got 'abc'/],
        [[['i1'], { candidates: {} }], /candidates must be an array of item ids/],
        [[['i1'], { excludeHistory: 'no' }], /excludeHistory must be true or false/],
        [[['i1'], { k: '3' }], /k must be an integer in 1\.\.\d+, got '3'/],
        [['i1'], /history must be an array of item ids/],
        [[[{}]], /history must be an array of item ids/],
      ];
      for (const [args, message] of refusals) {
        let promise: Promise<unknown>;
        try {
          promise = (rec.recommend as (...a: unknown[]) => Promise<unknown>)(...args);
        } catch (error) {
          expect.fail(`recommend(${JSON.stringify(args)}) threw synchronously: ${(error as Error).message}`);
        }
        const error = await promise.then(
          () => expect.fail(`recommend(${JSON.stringify(args)}) resolved`),
          (e: unknown) => e as Error & { field?: string },
        );
        expect(error.message).to.match(message);
        expect(error.field).to.be.a('string');
      }
    } finally {
      await rec.close();
    }
  });

  it('a config.json whose item lists do not cover the model, and non-finite weights, are refused at load', async () => {
    // The model folders alone (config.json + model.safetensors), as an earlier `llmrec train` wrote them.
    const copy = (name: string) => {
      const target = path.join(dir, name);
      for (const file of ['config.json', 'model.safetensors'])
        fs.cpSync(path.join(run, 'train', file), path.join(target, file));
      return target;
    };
    const short = copy('short-keys');
    const configFile = path.join(short, 'config.json');
    const config = JSON.parse(fs.readFileSync(configFile, 'utf-8')) as { dataset: { itemKeys: string[] } };
    config.dataset.itemKeys = config.dataset.itemKeys.slice(0, 10);
    fs.writeFileSync(configFile, JSON.stringify(config));
    await Recommender.load(short).then(
      () => expect.fail('a short itemKeys loaded'),
      (e: Error) => expect(e.message).to.match(/dataset\.itemKeys has 10 entries where the model has 40 items/),
    );

    const nan = copy('nan-weights');
    const file = path.join(nan, 'model.safetensors');
    const tensors = io.loadSafetensors(file);
    try {
      const first = [...tensors.values()][0]!;
      const values = first.dataSync() as Float32Array;
      values[3] = Number.NaN;
      first.write(values);
      io.saveSafetensorsSync(file, tensors);
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
    await Recommender.load(nan).then(
      () => expect.fail('NaN weights loaded'),
      (e: Error) => expect(e.message).to.match(/a diverged or corrupt model, with non-finite weights .* in /),
    );
  });
});
