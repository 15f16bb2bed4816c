import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { recommend, startServeProcess } from './support/serving.js';

const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'cli', 'main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

describe('llmrec command line', () => {
  it('lists its commands with --help', () => {
    const r = run('--help');
    expect(r.status).to.equal(0);
    expect(r.stdout).to.match(/usage: llmrec <command>/);
    expect(r.stdout).to.match(/\bdemo\b/);
    expect(r.stdout).to.match(/\binfo\b/);
  });

  it('prints the build and devices as JSON', () => {
    const r = run('info', '--json');
    expect(r.status).to.equal(0);
    const parsed = JSON.parse(r.stdout) as {
      build: { backends: { cpu: boolean } };
      devices: { cpu: { threads: number } };
    };
    expect(parsed.build.backends.cpu).to.equal(true);
    expect(parsed.devices.cpu.threads).to.be.greaterThan(0);
  });

  it('rejects unknown commands and options with usage and exit code 2', () => {
    const unknown = run('frobnicate');
    expect(unknown.status).to.equal(2);
    expect(unknown.stderr).to.match(/unknown command 'frobnicate'/);
    const badOption = run('info', '--bogus');
    expect(badOption.status).to.equal(2);
    expect(badOption.stderr).to.match(/unknown option --bogus/);
  });

  it('runs the demo on the CPU: kernel checks, then SASRec and GRU4Rec beside popularity', function () {
    this.timeout(300_000);
    const r = run('demo', '--device', 'cpu', '--sasrec-epochs', '1', '--gru4rec-epochs', '1', '--pipelines', 'none');
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).not.to.match(/pipelines \(test\)/);
    expect(r.stdout).to.match(/kernel check on cpu/);
    expect(r.stdout).not.to.match(/FAIL/);
    expect(r.stdout).to.match(/test metrics \(4104 users\)/);
    for (const model of ['sasrec', 'gru4rec', 'popularity'])
      expect(r.stdout).to.match(new RegExp(`^${model}\\s+0\\.\\d{4}`, 'm'));
  });

  it("runs the demo's LLM2Rec step: every stage on the shipped LM, then its row beside SASRec", function () {
    this.timeout(600_000);
    const r = run('demo', '--device', 'cpu', '--sasrec-epochs', '1', '--gru4rec-epochs', '0', '--pipelines', 'llm2rec');
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^sasrec\s+0\.\d{4}/m);
    expect(r.stdout).to.match(/pipelines \(test\)/);
    for (const metric of ['Recall@10 \\(full\\)', 'NDCG@10 \\(full\\)'])
      expect(r.stdout).to.match(
        new RegExp(
          `^LLM2Rec \\(SASRec on LM item table\\)\\s+${metric}\\s+0\\.\\d{4}\\s+200 LM steps, SASRec 1 epoch, \\d+ s`,
          'm',
        ),
      );
  });

  it('refuses an unknown --pipelines name with usage and exit code 2', () => {
    const r = run('demo', '--pipelines', 'llm2rec,bogus', '--skip-training');
    expect(r.status).to.equal(2);
    expect(r.stderr).to.match(/--pipelines: unknown pipeline 'bogus'; known: llm2rec/);
  });

  it("train --out is a run folder: `.` works, the user's files and the folder's mode stay, --resume after the end works", function () {
    this.timeout(300_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmrec-cli-out-'));
    const inDir = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: dir });
    try {
      fs.chmodSync(dir, 0o750);
      const trained = inDir('train', 'sasrec', '--epochs', '1', '--batch-size', '512', '--out', '.');
      expect(trained.status, trained.stderr).to.equal(0);
      expect(fs.readdirSync(dir).sort()).to.deep.equal(['manifest.json', 'train']);
      expect(fs.existsSync(path.join(dir, 'train', 'checkpoints', 'seed-0', 'latest.json'))).to.equal(true);
      fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine');
      const resumed = inDir('train', 'sasrec', '--epochs', '1', '--batch-size', '512', '--out', '.', '--resume');
      expect(resumed.status, resumed.stderr).to.equal(0);
      expect(resumed.stdout).to.match(/"event":"resume"/);
      expect(resumed.stdout).not.to.match(/"event":"step"/); // nothing left to train
      const line = (out: string) => out.split('\n').find((l) => l.startsWith('sasrec '));
      expect(line(resumed.stdout)).to.equal(
        line(trained.stdout)!.replace(/\S+\s*$/, line(resumed.stdout)!.match(/\S+\s*$/)![0]),
      );
      expect(fs.readFileSync(path.join(dir, 'notes.txt'), 'utf-8')).to.equal('mine');
      expect(fs.statSync(dir).mode & 0o777).to.equal(0o750);
      const rec = inDir('recommend', '--model', '.', '-k', '2', '--json', '85123A');
      expect(rec.status, rec.stderr).to.equal(0);
      expect(JSON.parse(rec.stdout)).to.have.length(2);
      // A folder holding someone else's files is refused before any training, and left as it was.
      const other = path.join(dir, 'other');
      fs.mkdirSync(other);
      fs.writeFileSync(path.join(other, 'data.csv'), 'a,b');
      const refused = inDir('train', 'gru4rec', '--out', other);
      expect(refused.status).to.equal(1);
      expect(refused.stderr).to.match(/is not empty \(data\.csv\) and is not an llmrec run folder/);
      expect(fs.readdirSync(other)).to.deep.equal(['data.csv']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('trains, evaluates, recommends and serves from the command line', async function () {
    this.timeout(300_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmrec-cli-'));
    try {
      const trained = run(
        'train',
        'sasrec',
        '--epochs',
        '1',
        '--out',
        dir,
        '--json',
        path.join(dir, 'result.json'),
        '--curves',
        path.join(dir, 'curves.svg'),
      );
      expect(trained.status, trained.stderr).to.equal(0);
      expect(trained.stdout).to.match(/^sasrec\s+0\.\d{4}\s+0\.\d{4}/m); // one seed: no "± 0"
      const result = JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf-8')) as {
        sampled: Record<string, { mean: number }>;
      };
      expect(result.sampled['hr@10']!.mean).to.be.within(0, 1);
      expect(fs.readFileSync(path.join(dir, 'curves.svg'), 'utf-8')).to.match(
        /<svg[^>]*>[\s\S]*training loss[\s\S]*<\/svg>/,
      );
      const rec = run('recommend', '--model', dir, '-k', '3', '--json', '85123A', '22423');
      expect(rec.status, rec.stderr).to.equal(0);
      const items = JSON.parse(rec.stdout) as { item: string; title: string; score: number }[];
      expect(items).to.have.length(3);
      expect(items.map((i) => i.item)).to.not.include('85123A');
      const evaluated = run('eval', '--model', dir);
      expect(evaluated.status, evaluated.stderr).to.equal(0);
      expect(evaluated.stdout).to.match(/1\+99 sampled/);
      // The run folder serves over HTTP as it is, with the same answer as `recommend`.
      const server = await startServeProcess(['--model', dir, '--port', '0']);
      try {
        const served = await recommend(server.address, path.basename(dir), { history: ['85123A', '22423'], k: 3 });
        expect(served.status).to.equal(200);
        expect(served.body.items).to.deep.equal(items);
      } finally {
        server.child.kill('SIGTERM');
        expect(await server.exited).to.equal(0);
      }
      const strict = run('recommend', '--model', dir, '--strict', 'NOPE');
      expect(strict.status).to.equal(1);
      expect(strict.stderr).to.match(/history has 1 unknown item id\(s\): NOPE/);
      const noModel = run('train', 'transformer');
      expect(noModel.status).to.equal(2);
      expect(noModel.stderr).to.match(/train needs a model: sasrec or gru4rec/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
