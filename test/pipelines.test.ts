import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  evaluation,
  models,
  pipelines,
  registerRecommenderKind,
  Recommender,
  recommenderKindOf,
} from '../lib/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const libIndex = path.resolve(here, '..', 'lib', 'index.js');
const cli = path.resolve(here, '..', 'lib', 'cli', 'main.js');

function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `llmrec-${prefix}-`));
}

describe('pipeline configs', () => {
  const schema = pipelines.defineConfig({
    ...pipelines.commonConfig,
    epochs: { type: 'int', default: 20, min: 1, help: 'training epochs' },
    batchSize: { type: 'int', default: 128, min: 1, help: 'sequences per batch' },
    lr: { type: 'float', default: 1e-3, help: 'learning rate' },
    pooling: { type: 'enum', choices: ['mean', 'eos'], default: 'mean', help: 'pooling' },
    ks: { type: 'list', of: 'int', default: [5, 10, 20], help: 'cut-offs' },
    bidirectional: { type: 'bool', default: false, help: 'attention' },
  });

  it('merges the defaults, then the --config file, then the flags', () => {
    const dir = tempDir('config');
    try {
      const file = path.join(dir, 'c.json');
      fs.writeFileSync(file, JSON.stringify({ epochs: 3, lr: 0.01, pooling: 'eos' }));
      const config = pipelines.resolveConfig(schema, { file, flags: { lr: 0.5, ks: '1, 2' } });
      expect(config).to.deep.equal({
        ...pipelines.resolveConfig(pipelines.commonConfig), // the dataset keys' defaults and the seed
        epochs: 3, // file over default
        batchSize: 128, // default
        lr: 0.5, // flag over file
        pooling: 'eos',
        ks: [1, 2], // a comma-separated flag
        bidirectional: false,
      });
      // The type derives from the schema.
      const typed: { epochs: number; pooling: 'mean' | 'eos'; ks: number[]; data: string | undefined } = config;
      expect(typed.epochs).to.equal(3);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses unknown keys, naming them and the close valid ones', () => {
    expect(() => pipelines.resolveConfig(schema, { values: { epoch: 3 } })).to.throw(
      pipelines.ConfigError,
      /unknown key 'epoch'; did you mean 'epochs'\? \(valid keys: 'data', 'format', .*'seed', 'epochs'/,
    );
    expect(() => pipelines.resolveConfig(schema, { values: { batch_size: 3 } })).to.throw(
      /unknown key 'batch_size'; did you mean 'batchSize'\?/,
    );
    expect(() => pipelines.resolveConfig(schema, { flags: { epoch: 3 } })).to.throw(
      /unknown key --epoch; did you mean --epochs\?/,
    );
    expect(pipelines.closeMatches('zzzzzz', ['epochs', 'lr'])).to.deep.equal([]);
  });

  it('says what type was expected, and checks ranges and choices', () => {
    const bad = (values: Record<string, unknown>) => () => pipelines.resolveConfig(schema, { values });
    expect(bad({ epochs: '3' })).to.throw(/'epochs' must be an integer, got "3" \(a string\)/);
    expect(bad({ epochs: 2.5 })).to.throw(/'epochs' must be an integer, got 2.5/);
    expect(bad({ epochs: 0 })).to.throw(/'epochs' must be at least 1, got 0/);
    expect(bad({ lr: null })).to.throw(/'lr' must be a finite number, got null/);
    expect(bad({ pooling: 'max' })).to.throw(/'pooling' must be one of mean, eos, got "max"/);
    expect(bad({ ks: [5, 'x'] })).to.throw(/'ks' element 1 must be an integer/);
    expect(bad({ bidirectional: 'yes' })).to.throw(/'bidirectional' must be true or false/);
    expect(() => pipelines.resolveConfig(schema, { flags: { ks: '5,,10' } })).to.throw(
      /--ks element 1 must be an integer/,
    );
    const dir = tempDir('config');
    try {
      const file = path.join(dir, 'c.json');
      fs.writeFileSync(file, '[1, 2]');
      expect(() => pipelines.resolveConfig(schema, { file })).to.throw(/must hold a JSON object/);
      fs.writeFileSync(file, '{ epochs: 3 }');
      expect(() => pipelines.resolveConfig(schema, { file })).to.throw(/not valid JSON/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(() => pipelines.defineConfig({ x: { type: 'int', default: 1.5, help: '' } })).to.throw(
      /the default of 'x' must be an integer/,
    );
    expect(() => pipelines.defineConfig({ 'batch-size': { type: 'int', help: '' } })).to.throw(/camelCase/);
  });

  it('derives the command-line flags and their help from the schema', () => {
    const options = pipelines.schemaOptions(schema);
    expect(options['batch-size']).to.deep.include({ type: 'integer', default: 128 });
    expect(options.pooling).to.deep.include({ type: 'string', choices: ['mean', 'eos'] });
    expect(options.ks).to.deep.include({ type: 'string', default: '5,10,20' });
    expect(pipelines.flagsToKeys(schema, { 'batch-size': 7, lr: 1 }, new Set(['batch-size']))).to.deep.equal({
      batchSize: 7,
    });
  });
});

describe('run folders', () => {
  let dir: string;
  beforeEach(() => (dir = tempDir('run')));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('refuses a folder holding the user’s files, leaving them and the folder’s mode alone', () => {
    fs.writeFileSync(path.join(dir, 'thesis.tex'), 'mine');
    fs.chmodSync(dir, 0o750);
    expect(() => pipelines.RunFolder.open(dir, 'seqrec')).to.throw(
      /is not empty \(thesis\.tex\) and is not an llmrec run folder[\s\S]*Choose another --out/,
    );
    expect(fs.readdirSync(dir)).to.deep.equal(['thesis.tex']);
    expect(fs.readFileSync(path.join(dir, 'thesis.tex'), 'utf-8')).to.equal('mine');
    expect(fs.statSync(dir).mode & 0o777).to.equal(0o750);
    fs.writeFileSync(path.join(dir, 'config.json'), '{}');
    fs.writeFileSync(path.join(dir, 'model.safetensors'), '');
    expect(() => pipelines.RunFolder.open(dir, 'seqrec')).to.throw(
      /saved by an earlier `llmrec train`: it still loads/,
    );
  });

  it('refuses the run folder of another pipeline, and a manifest that is not llmrec’s', () => {
    pipelines.RunFolder.open(dir, 'llm2rec').close();
    expect(() => pipelines.RunFolder.open(dir, 'seqrec')).to.throw(
      /holds a llm2rec run; a seqrec run needs its own folder/,
    );
    const other = path.join(dir, 'other');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'manifest.json'), '{"name": "a web app"}');
    expect(() => pipelines.RunFolder.open(other, 'seqrec')).to.throw(/is not an llmrec run manifest/);
    const file = path.join(dir, 'file');
    fs.writeFileSync(file, '');
    expect(() => pipelines.RunFolder.open(file, 'seqrec')).to.throw(/is a file, not a folder/);
  });

  it('writes files atomically into stage folders, keeps what the user adds, and locks out a second writer', () => {
    fs.chmodSync(dir, 0o751);
    const run = pipelines.RunFolder.open(dir, 'demo');
    try {
      expect(() => pipelines.RunFolder.open(dir, 'demo')).to.throw(/already open in this process/);
      run.writeJson('stage', 'out.json', { a: 1 });
      fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine');
      run.setStage('stage', { status: 'done', config: {}, inputs: {}, outputs: {}, started: new Date().toISOString() });
      expect(() => run.writeFile('stage', '../escape', 'x')).to.throw(/not a path inside the stage folder/);
    } finally {
      run.close();
    }
    const again = pipelines.RunFolder.open(dir, 'demo');
    again.close();
    expect(fs.readdirSync(dir).sort()).to.deep.equal(['manifest.json', 'notes.txt', 'stage']);
    expect(fs.statSync(dir).mode & 0o777).to.equal(0o751);
    expect(pipelines.readRunManifest(dir)!.stages.stage!.status).to.equal('done');
    // Another live process holding the lock is refused, with its pid.
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)']);
    try {
      fs.writeFileSync(path.join(dir, '.llmrec.lock'), `${holder.pid}\n`);
      expect(() => pipelines.RunFolder.open(dir, 'demo')).to.throw(
        new RegExp(`in use by llmrec process ${holder.pid}`),
      );
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('keeps the manifest whole when the writer is killed, then cleans its temporaries at the next open', async function () {
    this.timeout(60_000);
    const script = `
      import { pipelines } from ${JSON.stringify(libIndex)};
      const run = pipelines.RunFolder.open(${JSON.stringify(dir)}, 'kill-test');
      const big = Array.from({ length: 50000 }, (_, i) => i * 0.5);
      for (let n = 0; ; n++) {
        run.writeFile('train', 'weights.bin', new Uint8Array(1 << 20).fill(n & 255));
        run.setStage('train', { status: 'running', config: { n }, inputs: {}, outputs: {}, metrics: { big }, started: '' });
        if (n === 1) process.stdout.write('ready\\n');
      }`;
    for (let kill = 0; kill < 4; kill++) {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', () => resolve());
        child.on('exit', (code) => reject(new Error(`writer exited early (${code}): ${stderr}`)));
      });
      await new Promise((r) => setTimeout(r, 20 + kill * 37));
      child.kill('SIGKILL');
      await new Promise((r) => child.on('exit', r));
      const manifest = pipelines.readRunManifest(dir)!;
      expect(manifest.stages.train!.config.n).to.be.a('number');
    }
    // Temporaries as a killed save leaves them, planted so that each kind is certainly there.
    const planted = [
      path.join(dir, '.manifest.json.4242.deadbeef.tmp'),
      path.join(dir, 'train', '.weights.bin.4242.0123abcd.tmp'),
      path.join(dir, 'train', 'checkpoints', '.step-00000007.tmp-1a2b3c4d'),
    ];
    fs.writeFileSync(planted[0]!, '{');
    fs.writeFileSync(planted[1]!, 'x');
    fs.mkdirSync(planted[2]!, { recursive: true });
    fs.writeFileSync(path.join(dir, 'train', 'mine.tmp'), 'a user file that only looks temporary');
    const run = pipelines.RunFolder.open(dir, 'kill-test'); // the killed writer's lock is taken over
    run.close();
    for (const file of planted) expect(fs.existsSync(file), file).to.equal(false);
    expect(fs.readdirSync(dir).filter((n) => n.includes('.tmp'))).to.deep.equal([]);
    expect(fs.readdirSync(path.join(dir, 'train')).sort()).to.deep.equal(['checkpoints', 'mine.tmp', 'weights.bin']);
    expect(fs.statSync(path.join(dir, 'train', 'weights.bin')).size).to.equal(1 << 20);
  });

  it('an empty folder named "." becomes the run folder in place', () => {
    const script = `
      import { pipelines } from ${JSON.stringify(libIndex)};
      const run = pipelines.RunFolder.open('.', 'seqrec');
      run.writeJson('train', 'x.json', 1);
      run.close();`;
    fs.chmodSync(dir, 0o770);
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    expect(fs.readdirSync(dir).sort()).to.deep.equal(['manifest.json', 'train']);
    expect(fs.statSync(dir).mode & 0o777).to.equal(0o770);
  });
});

// A pipeline of two cheap stages: `second` needs `first`, and `label` matters to `second` only.
let failSecond = false;
const calls: string[] = [];
const testSchema = pipelines.defineConfig({
  ...pipelines.commonConfig,
  scale: { type: 'float', default: 1, help: 'what first multiplies' },
  label: { type: 'string', default: 'x', help: 'what second writes', stages: ['second'] },
});
type TestConfig = pipelines.ConfigOf<typeof testSchema>;
const testPipeline = pipelines.registerPipeline({
  name: 'test-two-stages',
  summary: 'two cheap stages for the tests',
  config: testSchema,
  stages: [
    pipelines.defineStage<TestConfig>({
      name: 'first',
      summary: 'writes scale × 2',
      requires: [],
      async run(ctx) {
        calls.push('first');
        ctx.writeJson('value.json', { value: ctx.config.scale * 2 });
        return { metrics: { value: ctx.config.scale * 2 }, outputs: ['value.json'] };
      },
    }),
    pipelines.defineStage<TestConfig>({
      name: 'second',
      summary: 'writes the label beside first’s value',
      requires: ['first'],
      async run(ctx) {
        calls.push(ctx.resume ? 'second (resumed)' : 'second');
        const { value } = JSON.parse(fs.readFileSync(path.join(ctx.stageDir('first'), 'value.json'), 'utf-8')) as {
          value: number;
        };
        ctx.writeFile(path.join('checkpoints', 'half-done'), 'yes');
        if (failSecond) throw new Error('second failed on purpose');
        ctx.writeJson('label.json', { label: ctx.config.label, value });
        return { outputs: ['label.json'] };
      },
    }),
  ],
  commands: [
    pipelines.definePipelineCommand({
      name: 'sweep',
      summary: 'runs every stage for each scale and compares them',
      options: { scales: { type: 'list', of: 'float', default: [1, 2], help: 'the scales' } },
      async run(ctx: pipelines.CommandContext<TestConfig>, options) {
        const rows: evaluation.ComparisonRow[] = [];
        for (const scale of options.scales) {
          const result = await ctx.runAll(path.join(ctx.dir, `scale-${scale}`), { ...ctx.config, scale });
          rows.push(evaluation.comparisonRow(`scale ${scale}`, [result.outcomes.first!.metrics as { value: number }]));
        }
        evaluation.writeComparison(path.join(ctx.dir, 'sweep'), { title: 'sweep', rows });
      },
    }),
  ],
});

describe('stages', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir('stages');
    calls.length = 0;
    failSecond = false;
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const config = (values: Partial<TestConfig> = {}) => pipelines.resolveConfig(testSchema, { values });

  it('a stage run before the one it needs says which command to run first, and records nothing', async () => {
    let error: Error | undefined;
    await pipelines.runStage(testPipeline, 'second', { dir, config: config() }).catch((e: Error) => (error = e));
    expect(error).to.be.instanceOf(pipelines.StageOrderError);
    expect(error!.message).to.equal(
      `stage 'second' needs stage 'first' done first, which has not run in ${dir}; run first:\n  llmrec test-two-stages first --out ${JSON.stringify(dir)}`,
    );
    expect(pipelines.readRunManifest(dir)!.stages).to.deep.equal({});
    expect(calls).to.deep.equal([]);
  });

  it('records config, input digests, outputs, metrics and times in the manifest', async () => {
    await pipelines.runStage(testPipeline, 'first', { dir, config: config({ scale: 2 }) });
    const record = pipelines.readRunManifest(dir)!.stages.first!;
    expect(record.status).to.equal('done');
    // The dataset keys (their defaults, as JSON keeps them), the seed and 'scale'; 'label' is second's only.
    const common = JSON.parse(JSON.stringify(pipelines.resolveConfig(pipelines.commonConfig))) as object;
    expect(record.config).to.deep.equal({ ...common, seed: 0, scale: 2 });
    expect(record.metrics).to.deep.equal({ value: 4 });
    expect(record.inputs.data!.files.map((f) => path.basename(f.path))).to.deep.equal([
      'online-retail-2010-2011.inter.gz',
      'online-retail-2010-2011.item.gz',
    ]);
    expect(record.outputs['value.json']!.sha256).to.match(/^[0-9a-f]{64}$/);
    expect(record.seconds).to.be.at.least(0);
    expect(Date.parse(record.ended!)).to.be.at.least(Date.parse(record.started));
  });

  it('all skips done stages whose config and inputs match, and reruns what a change affects', async () => {
    await pipelines.runAll(testPipeline, { dir, config: config() });
    expect(calls).to.deep.equal(['first', 'second']);
    const again = await pipelines.runAll(testPipeline, { dir, config: config() });
    expect(again.skipped).to.deep.equal(['first', 'second']);
    expect(calls).to.deep.equal(['first', 'second']);
    await pipelines.runAll(testPipeline, { dir, config: config({ label: 'y' }) }); // second's key only
    expect(calls).to.deep.equal(['first', 'second', 'second']);
    await pipelines.runAll(testPipeline, { dir, config: config({ label: 'y', scale: 3 }) }); // first's output changes
    expect(calls).to.deep.equal(['first', 'second', 'second', 'first', 'second']);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'second', 'label.json'), 'utf-8'))).to.deep.equal({
      label: 'y',
      value: 6,
    });
  });

  it('a failed stage is recorded, leaves earlier outputs untouched, and all resumes it', async () => {
    await pipelines.runStage(testPipeline, 'first', { dir, config: config() });
    const firstOutput = path.join(dir, 'first', 'value.json');
    const before = fs.statSync(firstOutput).mtimeMs;
    failSecond = true;
    let error: Error | undefined;
    await pipelines.runAll(testPipeline, { dir, config: config() }).catch((e: Error) => (error = e));
    expect(error?.message).to.equal('second failed on purpose');
    const manifest = pipelines.readRunManifest(dir)!;
    expect(manifest.stages.second).to.deep.include({ status: 'failed', error: 'second failed on purpose' });
    expect(manifest.stages.first!.status).to.equal('done');
    expect(fs.statSync(firstOutput).mtimeMs).to.equal(before);
    failSecond = false;
    const result = await pipelines.runAll(testPipeline, { dir, config: config() });
    expect(result).to.deep.include({ ran: ['second'], skipped: ['first'] });
    expect(calls).to.deep.equal(['first', 'second', 'second (resumed)']);
    expect(fs.existsSync(path.join(dir, 'second', 'checkpoints', 'half-done'))).to.equal(true);
    // A fresh (not resumed) run of a stage starts without the earlier run's checkpoints.
    const stale = path.join(dir, 'second', 'checkpoints', 'stale');
    fs.writeFileSync(stale, '');
    await pipelines.runStage(testPipeline, 'second', { dir, config: config() });
    expect(calls.at(-1)).to.equal('second');
    expect(fs.existsSync(stale)).to.equal(false);
  });
});

describe('pipeline commands', () => {
  it('run with their own typed options, make run folders through runAll and write a comparison', async () => {
    const dir = tempDir('command');
    try {
      const config = pipelines.resolveConfig(testSchema);
      await pipelines.runCommand(testPipeline, 'sweep', { dir, config, commandOptions: { scales: '1.5,3' } });
      const sweep = JSON.parse(fs.readFileSync(path.join(dir, 'sweep.json'), 'utf-8')) as evaluation.Comparison;
      expect(sweep.rows.map((r) => [r.name, r.metrics.value!.mean])).to.deep.equal([
        ['scale 1.5', 3],
        ['scale 3', 6],
      ]);
      expect(pipelines.readRunManifest(path.join(dir, 'scale-3'))!.stages.second!.status).to.equal('done');
      let error = '';
      await pipelines
        .runCommand(testPipeline, 'sweep', { dir, config, commandOptions: { scales: 'x' } })
        .catch((e: Error) => (error = e.message));
      expect(error).to.match(/--scales element 0 must be a finite number/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('registries', () => {
  it('pipelines: names, requirements and command names are checked when registering', () => {
    expect(pipelines.pipelines().map((p) => p.name)).to.include.members(['seqrec', 'test-two-stages']);
    expect(() => pipelines.pipelineEntry('nope')).to.throw(/unknown pipeline 'nope'; registered: seqrec/);
    const stage = (name: string, requires: string[] = []) =>
      pipelines.defineStage({ name, summary: '', requires, run: async () => ({}) });
    const register = (p: Partial<pipelines.Pipeline>) =>
      pipelines.registerPipeline({ name: 'x-bad', summary: '', config: testSchema, stages: [], ...p });
    expect(() => register({ name: 'seqrec' })).to.throw(/already registered/);
    expect(() => register({ stages: [stage('b', ['a']), stage('a')] })).to.throw(
      /stage 'b' requires 'a', which is not an earlier stage/,
    );
    expect(() => register({ stages: [stage('all')] })).to.throw(/stage name 'all' is taken/);
    expect(() =>
      register({ stages: [stage('a')], commands: [{ name: 'a', summary: '', run: async () => undefined }] }),
    ).to.throw(/command name 'a' is taken/);
    expect(() => register({ config: pipelines.defineConfig({ lr: { type: 'float', help: '' } }) })).to.throw(
      /lacks 'data' \(spread commonConfig into it\)/,
    );
    expect(() =>
      pipelines.defineStage({ name: 'Bad Name', summary: '', requires: [], run: async () => ({}) }),
    ).to.throw(/not a valid stage name/);
  });

  it('models: registered by name with presets; unknown names and presets list the valid ones', () => {
    expect(models.modelNames()).to.include.members(['sasrec', 'gru4rec']);
    expect(models.modelEntry('sasrec').presets).to.have.property('llm-srec');
    expect(() => models.modelEntry('bert4rec')).to.throw(/unknown model 'bert4rec'; registered: sasrec, gru4rec/);
    expect(() => models.configureModel('gru4rec', 10, 'huge')).to.throw(
      /unknown preset 'huge'; presets: demo, llm2rec/,
    );
    const config = models.configureModel('sasrec', 10, 'llm-srec', { maxlen: 4 });
    const model = models.buildModel({ kind: 'sasrec', model: config });
    expect(model).to.be.instanceOf(models.SASRec);
    expect(model.config.maxlen).to.equal(4);
    model.dispose();
    expect(() => models.registerModel({ ...models.modelEntry('sasrec') })).to.throw(/already registered/);
  });

  it('recommender kinds: run folders by pipeline, old model folders by model, unknown kinds named', async () => {
    const dir = tempDir('kinds');
    try {
      const run = path.join(dir, 'run');
      await pipelines.runStage(testPipeline, 'first', { dir: run, config: config() });
      expect(recommenderKindOf(run)).to.equal('test-two-stages');
      let error = '';
      await Recommender.load(run).catch((e: Error) => (error = e.message));
      expect(error).to.match(/holds a 'test-two-stages' run, which llmrec cannot serve \(it serves: seqrec, sasrec/);
      const legacy = path.join(dir, 'legacy');
      fs.mkdirSync(legacy);
      fs.writeFileSync(path.join(legacy, 'config.json'), JSON.stringify({ kind: 'gru4rec' }));
      expect(recommenderKindOf(legacy)).to.equal('gru4rec');
      const seqrecRun = path.join(dir, 'seqrec');
      pipelines.RunFolder.open(seqrecRun, 'seqrec').close();
      await Recommender.load(seqrecRun).catch((e: Error) => (error = e.message));
      expect(error).to.match(/its train stage is not run, so there is no finished model to serve/);
      expect(() => registerRecommenderKind('seqrec', async () => ({}) as never)).to.throw(/already registered/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    function config() {
      return pipelines.resolveConfig(testSchema);
    }
  });
});

/** Throws unless `svg` is well-formed XML as far as tags, attributes and entities go. */
function checkWellFormed(svg: string): void {
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  for (let m = tag.exec(svg); m; m = tag.exec(svg)) {
    const text = svg.slice(last, m.index);
    if (text.includes('<') || /&(?!(amp|lt|gt|quot|apos);)/.test(text)) throw new Error(`bad text: ${text}`);
    last = tag.lastIndex;
    const [, closing, name, attributes, selfClosing] = m;
    if (/&(?!(amp|lt|gt|quot|apos);)/.test(attributes!)) throw new Error(`bad attribute: ${attributes}`);
    if (closing) {
      if (stack.pop() !== name) throw new Error(`</${name}> closes nothing open`);
    } else if (!selfClosing) stack.push(name!);
  }
  if (svg.slice(last).trim() !== '') throw new Error(`trailing text: ${svg.slice(last)}`);
  if (stack.length > 0) throw new Error(`unclosed: ${stack.join(', ')}`);
}

describe('comparison reports', () => {
  it('write rows × metrics with mean ± std over seeds as JSON, Markdown and a well-formed SVG', () => {
    const dir = tempDir('report');
    try {
      const comparison: evaluation.Comparison = {
        title: 'Ablation <on> "Online Retail" & co',
        rows: [
          evaluation.comparisonRow(
            'ID-only | SASRec',
            [
              { 'recall@10': 0.1, 'ndcg@10': 0.05 },
              { 'recall@10': 0.2, 'ndcg@10': 0.07 },
            ],
            'in-domain',
          ),
          evaluation.comparisonRow(
            'full',
            [
              { 'recall@10': 0.3, 'ndcg@10': 0.04 },
              { 'recall@10': 0.5, 'ndcg@10': 0.06 },
            ],
            'in-domain',
          ),
        ],
        notes: { command: 'llmrec x ablation', seeds: '0, 1' },
      };
      const files = evaluation.writeComparison(path.join(dir, 'ablation'), comparison);
      const json = JSON.parse(fs.readFileSync(files.json, 'utf-8')) as evaluation.Comparison;
      expect(json.metrics).to.deep.equal(['recall@10', 'ndcg@10']);
      expect(json.rows[1]!.metrics['recall@10']!.mean).to.be.closeTo(0.4, 1e-12);
      expect(json.rows[1]!.metrics['recall@10']!.std).to.be.closeTo(Math.SQRT2 * 0.1, 1e-12);
      const markdown = fs.readFileSync(files.markdown, 'utf-8').split('\n');
      const table = markdown.filter((l) => l.startsWith('|'));
      expect(table).to.have.length(4);
      for (const line of table) expect(line.split(/(?<!\\)\|/).length - 2).to.equal(4); // setting, model, 2 metrics
      expect(table[2]).to.contain('ID-only \\| SASRec');
      expect(table[2]).to.contain('**0.0600 ± 0.0141**'); // the best NDCG@10 of its group in bold
      expect(table[3]).to.contain('**0.4000 ± 0.1414**');
      expect(markdown).to.include('Mean ± sample std over 2 seeds.');
      expect(markdown).to.include('- command: llmrec x ablation');
      const svg = fs.readFileSync(files.svg, 'utf-8');
      checkWellFormed(svg);
      expect(svg.match(/<rect [^>]*><title>/g)).to.have.length(4); // one bar per row and metric
      expect(svg).to.contain('Ablation &lt;on&gt; &quot;Online Retail&quot; &amp; co');
      expect(() => evaluation.comparisonMarkdown({ ...comparison, metrics: ['hr@1'] })).to.throw(
        /row 'ID-only \| SASRec' has no metric 'hr@1'/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('pipeline command line', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

  it('builds `llmrec <pipeline> <stage>` and its help from the registry', () => {
    expect(run('--help').stdout).to.match(/^ {2}seqrec\s+Train and test a sequential recommender/m);
    const help = run('seqrec', '--help');
    expect(help.status).to.equal(0);
    expect(help.stdout).to.match(/usage: llmrec seqrec <stage\|all\|command>/);
    expect(help.stdout).to.match(/^ {2}train\s/m);
    expect(help.stdout).to.match(/^ {2}all\s/m);
    const stageHelp = run('seqrec', 'train', '--help');
    expect(stageHelp.stdout).to.match(/--batch-size <integer>\s+sequences per batch \(default 128\)/);
    expect(stageHelp.stdout).to.match(/--config <string>/);
    const unknown = run('seqrec', 'tain');
    expect(unknown.status).to.equal(2);
    expect(unknown.stderr).to.match(/seqrec has no stage or command 'tain'; it has train, all/);
    const badConfig = run('seqrec', 'train', '--config', '/nonexistent/c.json');
    expect(badConfig.status).to.equal(2);
    expect(badConfig.stderr).to.match(/--config \/nonexistent\/c\.json: cannot read it \(ENOENT\)/);
    const typo = run('seqrec', 'train', '--batchsize', '3');
    expect(typo.status).to.equal(2);
    expect(typo.stderr).to.match(/unknown option --batchsize; did you mean --batch-size\?/);
  });

  it('a diverged training fails the stage, exits non-zero and saves no model', function () {
    this.timeout(120_000);
    const dir = tempDir('diverged');
    try {
      const r = run('train', 'sasrec', '--lr', '1e30', '--epochs', '1', '--batch-size', '1024', '--out', dir);
      expect(r.status, r.stderr).to.equal(1);
      expect(r.stderr).to.match(
        /sasrec diverged \((the loss is|non-finite gradients in) .+ at epoch 0, batch \d+, step \d+\); nothing was saved: try a lower --lr/,
      );
      const record = pipelines.readRunManifest(dir)!.stages.train!;
      expect(record.status).to.equal('failed');
      expect(record.error).to.match(/diverged/);
      expect(fs.existsSync(path.join(dir, 'train', 'model.safetensors'))).to.equal(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
