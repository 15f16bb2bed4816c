// The HTTP service over real run folders, on ephemeral loopback ports: every route, the 4xx
// answers, micro-batching, the bounded queue, timeouts, hot reload (including a corrupt
// checkpoint that must be refused) and graceful shutdown with requests in flight.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  MicroBatcher,
  models,
  Recommender,
  type ModelInfo,
  type NewItem,
  type Recommendation,
  type RecommendOptions,
  type ServableModel,
} from '../lib/index.js';
import { metricHelp } from '../lib/serve/http/metrics.js';
import { createServer, type RecommendationServer, type ServeOptions } from '../lib/serve/http/server.js';
import { describeEachDevice } from './support/devices.js';
import { call, embeddedSplit, histories, metricValue, recommend, writeSasrecRun } from './support/serving.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeEachDevice('llmrec serve (HTTP)', (device) => {
  let root: string;
  let runDir: string;
  let users: string[][];
  const servers: RecommendationServer[] = [];

  /** A server on an ephemeral loopback port, closed after the test. */
  async function start(options: Partial<ServeOptions> = {}): Promise<{ server: RecommendationServer; base: string }> {
    const server = createServer({ models: [{ name: 'sasrec', dir: runDir }], device, ...options });
    servers.push(server);
    const base = await server.listen({ host: '127.0.0.1', port: 0 });
    await server.loaded;
    return { server, base };
  }

  before(async function () {
    this.timeout(60_000);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'llmrec-serve-'));
    runDir = path.join(root, 'sasrec');
    await writeSasrecRun(runDir, 0);
    users = await histories(64);
  });
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('answers every route: recommend as the in-process Recommender does, models, health, metrics, docs', async () => {
    const { base } = await start();
    const rec = await Recommender.load(runDir, { device });
    try {
      for (const history of users.slice(0, 4)) {
        const expected = await rec.recommend(history, { k: 7, exclude: [users[5]![0]!] });
        const answer = await recommend(base, 'sasrec', { history, k: 7, exclude: [users[5]![0]!] });
        expect(answer.status).to.equal(200);
        const items = answer.body.items as Recommendation[];
        expect(items.map((r) => r.item)).to.deep.equal(expected.map((r) => r.item));
        items.forEach((r, i) => expect(r.score).to.be.closeTo(expected[i]!.score, 1e-5));
        expect(items[0]!.title).to.equal(expected[0]!.title);
        expect(answer.body).to.include({ model: 'sasrec', generation: 1 });
        expect(answer.body.latencyMs).to.be.a('number');
      }
      const candidates = users[1]!.slice(0, 5);
      const ranked = await recommend(base, 'sasrec', { history: users[0], k: 3, candidates });
      expect(ranked.status).to.equal(200);
      const rankedItems = (ranked.body.items as Recommendation[]).map((r) => r.item);
      expect(rankedItems).to.deep.equal((await rec.recommend(users[0]!, { k: 3, candidates })).map((r) => r.item));
      for (const item of rankedItems) expect(candidates).to.include(item);
    } finally {
      await rec.close();
    }

    const listed = await call(base, 'GET', '/v1/models');
    expect(listed.status).to.equal(200);
    const [described] = listed.body.models as (ModelInfo & { name: string; generation: number; ready: boolean })[];
    const servedOn = device === 'cuda' ? 'cuda:0' : device; // tensors name the device they are on
    expect(described).to.include({ name: 'sasrec', kind: 'sasrec', device: servedOn, ready: true, generation: 1 });
    expect(described!.maxK).to.equal(1024);
    expect(described!.features).to.deep.equal({ candidates: true, addItems: false, text: false });
    expect(described!.numItems).to.equal((await embeddedSplit()).dataset.numItems);

    expect((await call(base, 'GET', '/healthz')).body).to.deep.equal({ status: 'ok' });
    const ready = await call(base, 'GET', '/readyz');
    expect(ready.status).to.equal(200);
    expect(ready.body).to.deep.equal({ status: 'ready', models: { sasrec: true } });

    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.headers.get('content-type')).to.match(/^text\/plain/);
    const text = await metrics.text();
    for (const name of Object.keys(metricHelp)) expect(text, name).to.include(`# HELP ${name} `);
    expect(
      metricValue(
        text,
        'llmrec_http_requests_total{method="POST",route="/v1/models/:name/recommend",status_code="200"}',
      ),
    ).to.equal(5);
    expect(metricValue(text, 'llmrec_batch_size_sum{model="sasrec"}')).to.equal(5);
    expect(metricValue(text, `llmrec_device_memory_bytes{device="${servedOn}",state="in_use"}`)).to.be.greaterThan(0);
    expect(text).to.include('process_cpu_seconds_total');

    const docs = await call(base, 'GET', '/docs');
    expect(docs.status).to.equal(200);
    expect(docs.body.openapi).to.match(/^3\./);
    const paths = docs.body.paths as Record<string, Record<string, { requestBody?: unknown }>>;
    expect(Object.keys(paths)).to.include.members([
      '/v1/models/{name}/recommend',
      '/v1/models/{name}/items',
      '/v1/models/{name}/reload',
      '/v1/models',
      '/healthz',
      '/readyz',
      '/metrics',
    ]);
    expect(JSON.stringify(paths['/v1/models/{name}/recommend']!.post!.requestBody)).to.include('candidates');

    // SASRec embeds no new items: the route exists, the capability does not.
    const items = await call(base, 'POST', '/v1/models/sasrec/items', { items: [{ id: 'NEW-1', title: 'a mug' }] });
    expect(items.status).to.equal(501);
    expect(items.body).to.include({ field: 'items', code: 'NOT_SUPPORTED' });
  });

  it('answers bad requests with 4xx naming the field, and keeps serving', async () => {
    const { base } = await start({ bodyLimit: 4096 });
    const history = users[0];
    const cases: [string, unknown, number, string][] = [
      ['no history', { k: 3 }, 400, 'history'],
      ['history not an array', { history: 'abc' }, 400, 'history'],
      ['an item id that is an object', { history: [{ id: 1 }] }, 400, 'history.0'],
      ['k = 0', { history, k: 0 }, 400, 'k'],
      ['k over 1024', { history, k: 5000 }, 400, 'k'],
      ['k a string', { history, k: '5' }, 400, 'k'],
      ['k fractional', { history, k: 1.5 }, 400, 'k'],
      ['an unknown field', { history, kk: 3 }, 400, 'kk'],
      ['unknownItems not an option', { history, unknownItems: 'explode' }, 400, 'unknownItems'],
      ['excludeHistory not a boolean', { history, excludeHistory: 'yes' }, 400, 'excludeHistory'],
      ['empty candidates', { history, candidates: [] }, 400, 'candidates'],
      [
        'an unknown item under unknownItems: error',
        { history: ['NO-SUCH-ITEM'], unknownItems: 'error' },
        400,
        'history',
      ],
      ['a body that is not JSON', '{"history": [', 400, 'body'],
      ['a body over the limit', { history: Array.from({ length: 2000 }, () => '85123A') }, 413, 'body'],
    ];
    for (const [what, body, status, field] of cases) {
      const answer = await recommend(base, 'sasrec', body);
      expect(answer.status, what).to.equal(status);
      expect(answer.body.field, what).to.equal(field);
      expect(answer.body.message, what).to.be.a('string').with.length.greaterThan(10);
      expect(answer.body.statusCode, what).to.equal(status);
    }
    const unknownModel = await recommend(base, 'nope', { history });
    expect(unknownModel.status).to.equal(404);
    expect(unknownModel.body).to.include({ field: 'name', code: 'UNKNOWN_MODEL' });
    expect(unknownModel.body.message).to.match(/no model named 'nope'; this server has: sasrec/);
    const notJson = await call(base, 'POST', '/v1/models/sasrec/recommend', 'history=1', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(notJson.status).to.equal(415);
    expect(notJson.body.field).to.equal('body');
    const noRoute = await call(base, 'GET', '/v2/everything');
    expect(noRoute.status).to.equal(404);
    expect(noRoute.body.message).to.match(/no route GET \/v2\/everything/);
    const reloadUnknown = await call(base, 'POST', '/v1/models/nope/reload');
    expect(reloadUnknown.status).to.equal(404);
    // Still serving.
    expect((await recommend(base, 'sasrec', { history, k: 2 })).status).to.equal(200);
  });

  it('micro-batches concurrent requests into shared forward passes', async () => {
    const { base } = await start({ maxBatch: 8, maxWaitMs: 500 });
    const single = await Recommender.load(runDir, { device });
    let expected: Recommendation[][];
    try {
      expected = [];
      for (const h of users.slice(0, 20)) expected.push(await single.recommend(h, { k: 5 }));
    } finally {
      await single.close();
    }
    const answers = await Promise.all(
      users.slice(0, 20).map((history) => recommend(base, 'sasrec', { history, k: 5 })),
    );
    answers.forEach((a, i) => {
      expect(a.status).to.equal(200);
      expect(
        (a.body.items as Recommendation[]).map((r) => r.item),
        `user ${i}`,
      ).to.deep.equal(expected[i]!.map((r) => r.item));
    });
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(metricValue(text, 'llmrec_batch_size_sum{model="sasrec"}')).to.equal(20);
    // 20 calls, at most 8 per pass: 3 passes when they arrive together, and never one pass each. Calls
    // that arrive while a pass runs form the next pass without waiting, so on a busy machine the
    // count lies anywhere between (12 was seen with the full suite under load).
    expect(metricValue(text, 'llmrec_batch_size_count{model="sasrec"}')).to.be.within(3, 19);
    expect(metricValue(text, 'llmrec_batch_size_bucket{le="4",model="sasrec"}')).to.be.lessThan(
      metricValue(text, 'llmrec_batch_size_count{model="sasrec"}')!,
    );
  });

  it('refuses requests beyond --max-queue with 503 and Retry-After, and times out slow ones', async () => {
    // The batch waits a second for company, so the first four requests are still held when the rest arrive.
    const { base } = await start({ maxQueue: 4, maxWaitMs: 1000, retryAfterSeconds: 2 });
    const answers = await Promise.all(
      users.slice(0, 12).map((history) => recommend(base, 'sasrec', { history, k: 3 })),
    );
    const ok = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 503);
    expect(ok).to.have.length(4);
    expect(refused).to.have.length(8);
    for (const a of refused) {
      expect(a.headers.get('retry-after')).to.equal('2');
      expect(a.body.code).to.equal('QUEUE_FULL');
      expect(a.body.message).to.match(/holds 4 requests, its limit \(--max-queue\)/);
    }
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(metricValue(text, 'llmrec_requests_rejected_total{model="sasrec",reason="queue_full"}')).to.equal(8);

    const slow = await start({ maxWaitMs: 600, requestTimeoutMs: 100 });
    const started = performance.now();
    const timedOut = await recommend(slow.base, 'sasrec', { history: users[0], k: 3 });
    expect(timedOut.status).to.equal(503);
    expect(timedOut.body.code).to.equal('TIMEOUT');
    expect(performance.now() - started).to.be.lessThan(550);
    // The model still holds the call until its batch has run: it counts against the queue bound.
    const held = await call(slow.base, 'GET', '/v1/models');
    expect((held.body.models as { inFlight: number }[])[0]!.inFlight).to.equal(1);
    await sleep(900);
    const released = await call(slow.base, 'GET', '/v1/models');
    expect((released.body.models as { inFlight: number }[])[0]!.inFlight).to.equal(0);
  });

  it('hot-reloads a newer checkpoint without dropping requests in flight, and refuses a corrupt one', async () => {
    const dir = path.join(root, 'reloading');
    await writeSasrecRun(dir, 0);
    const server = createServer({ models: [{ name: 'live', dir }], device, maxWaitMs: 300 });
    servers.push(server);
    const base = await server.listen({ port: 0 });
    await server.loaded;
    const before = await call(base, 'GET', '/v1/models');
    const firstFingerprint = (before.body.models as { fingerprint: string }[])[0]!.fingerprint;

    // A newer checkpoint lands in the run folder (written atomically, as llmrec train does).
    await writeSasrecRun(dir, 7);
    const newer = await Recommender.load(dir, { device });
    const expected = await newer.recommend(users[3]!, { k: 5 });
    await newer.close();

    // Requests wait 300 ms in the batcher; the reload happens while they are held.
    const inFlight = users.slice(0, 16).map((history) => recommend(base, 'live', { history, k: 5 }));
    await sleep(50);
    const reload = await call(base, 'POST', '/v1/models/live/reload');
    expect(reload.status).to.equal(200);
    expect(reload.body).to.include({ model: 'live', generation: 2, previousGeneration: 1 });
    expect(reload.body.fingerprint).to.not.equal(firstFingerprint);
    const held = await Promise.all(inFlight);
    for (const answer of held) {
      expect(answer.status).to.equal(200);
      expect(answer.body.generation).to.equal(1);
      expect(answer.body.items).to.have.length(5);
    }
    const fresh = await recommend(base, 'live', { history: users[3], k: 5 });
    expect(fresh.body.generation).to.equal(2);
    expect((fresh.body.items as Recommendation[]).map((r) => r.item)).to.deep.equal(expected.map((r) => r.item));

    // A half-written checkpoint: the weights file cut off in the middle.
    const weights = path.join(dir, 'model.safetensors');
    const whole = fs.readFileSync(weights);
    fs.writeFileSync(weights, whole.subarray(0, whole.length >> 1));
    const refused = await call(base, 'POST', '/v1/models/live/reload');
    expect(refused.status).to.equal(409);
    expect(refused.body.code).to.equal('RELOAD_REFUSED');
    expect(refused.body.message).to.match(/did not load: .*safetensors/);
    expect(refused.body.message).to.match(/generation 2 \([0-9a-f]+\) keeps serving/);
    const still = await recommend(base, 'live', { history: users[3], k: 5 });
    expect(still.status).to.equal(200);
    expect(still.body.generation).to.equal(2);
    expect(still.body.items).to.deep.equal(fresh.body.items);

    // Non-finite weights (a diverged run) are refused at load, and the old model keeps serving.
    const { dataset } = await embeddedSplit();
    const diverged = new models.SASRec(models.sasrecConfig(dataset.numItems, 'a-llmrec'), { device });
    for (const p of diverged.parameters()) p.fill(Number.NaN);
    models.saveTrainedModel(dir, diverged, await embeddedSplit());
    diverged.dispose();
    const nan = await call(base, 'POST', '/v1/models/live/reload');
    expect(nan.status).to.equal(409);
    // Refused at load, before any warm-up: the weights are checked as they are read.
    expect(nan.body.message).to.match(/did not load: .*non-finite weights \(NaN or Infinity\)/);

    const listed = await call(base, 'GET', '/v1/models');
    expect((listed.body.models as { generation: number }[])[0]!.generation).to.equal(2);
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(metricValue(text, 'llmrec_model_reloads_total{model="live",result="ok"}')).to.equal(1);
    expect(metricValue(text, 'llmrec_model_reloads_total{model="live",result="refused"}')).to.equal(2);
    expect(metricValue(text, 'llmrec_model_generation{model="live"}')).to.equal(2);
  });

  it('shuts down gracefully: requests in flight are answered, then the models are closed', async () => {
    const opened: Recommender[] = [];
    const { server, base } = await start({
      maxWaitMs: 400,
      load: async (dir, options) => {
        const rec = await Recommender.load(dir, options);
        opened.push(rec);
        return rec;
      },
    });
    const inFlight = users.slice(0, 10).map((history) => recommend(base, 'sasrec', { history, k: 4 }));
    await sleep(100);
    const closing = server.close();
    const answers = await Promise.all(inFlight);
    await closing;
    for (const a of answers) {
      expect(a.status).to.equal(200);
      expect(a.body.items).to.have.length(4);
    }
    let refused: unknown;
    await fetch(`${base}/healthz`).catch((error: unknown) => (refused = error));
    expect(refused, 'the listener is closed').to.be.instanceOf(Error);
    expect(opened).to.have.length(1);
    let closedError = '';
    await opened[0]!.recommend(users[0]!).catch((e: Error) => (closedError = e.message));
    expect(closedError).to.match(/closed/);
  });

  it('refuses model requests with 503 while the event loop lags, and still answers health and metrics', async function () {
    this.timeout(30_000);
    const { base } = await start({ maxEventLoopDelayMs: 100 });
    expect((await recommend(base, 'sasrec', { history: users[0] })).status).to.equal(200);
    // A stalled event loop, as CPU-bound handlers cause: 200 ms slices for 2.5 s. under-pressure
    // averages the loop delay over each 1 s sample, so one long stall can be diluted below the
    // limit by the short delays sampled before it; slices cover at least one whole sample.
    const until = Date.now() + 2500;
    while (Date.now() < until) {
      const slice = Date.now() + 200;
      while (Date.now() < slice);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await sleep(20);
    const overloaded = await recommend(base, 'sasrec', { history: users[0] });
    expect(overloaded.status).to.equal(503);
    expect(overloaded.body.message).to.match(/overloaded \(event-loop lag over 100 ms\)/);
    expect(overloaded.headers.get('retry-after')).to.equal('1');
    expect((await call(base, 'GET', '/healthz')).status).to.equal(200);
    expect((await fetch(`${base}/metrics`)).status).to.equal(200);
    await sleep(2100); // under-pressure samples once a second
    expect((await recommend(base, 'sasrec', { history: users[0] })).status).to.equal(200);
  });

  it('reports loading through /readyz and refuses model requests with 503 until the model is warm', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const server = createServer({
      models: [{ name: 'sasrec', dir: runDir }],
      device,
      load: async (dir, options) => {
        await gate;
        return Recommender.load(dir, options);
      },
    });
    servers.push(server);
    const base = await server.listen({ port: 0 });
    expect((await call(base, 'GET', '/healthz')).status).to.equal(200);
    const loading = await call(base, 'GET', '/readyz');
    expect(loading.status).to.equal(503);
    expect(loading.body).to.deep.equal({ status: 'loading', models: { sasrec: false } });
    const early = await recommend(base, 'sasrec', { history: users[0] });
    expect(early.status).to.equal(503);
    expect(early.body.code).to.equal('NOT_LOADED');
    expect(early.headers.get('retry-after')).to.equal('1');
    release();
    await server.loaded;
    expect((await call(base, 'GET', '/readyz')).status).to.equal(200);
    expect((await recommend(base, 'sasrec', { history: users[0] })).status).to.equal(200);
  });

  it('a model that fails to load fails the start with the reason', async () => {
    const server = createServer({ models: [{ name: 'gone', dir: path.join(root, 'missing') }], device });
    let message = '';
    await server.loaded.catch((e: Error) => (message = e.message));
    await server.close();
    expect(message).to.match(/model 'gone': .*missing.*; nothing was loaded/);
    expect(() => createServer({ models: [] })).to.throw(/no model given/);
    expect(() =>
      createServer({
        models: [
          { name: 'a', dir: runDir },
          { name: 'a', dir: runDir },
        ],
      }),
    ).to.throw(/two models are named 'a'/);
    expect(() => createServer({ models: [{ name: 'a/b', dir: runDir }] })).to.throw(/model name 'a\/b'/);
    expect(() => createServer({ models: [{ name: 'a', dir: runDir }], maxQueue: 0 })).to.throw(/maxQueue/);
  });

  it('serves the optional features of a model kind that has them (items added at run time, generated text)', async () => {
    const { base } = await start({
      load: async (dir, options) => CatalogueModel.wrap(await Recommender.load(dir, options)),
    });
    const added = await call(base, 'POST', '/v1/models/sasrec/items', {
      items: [
        { id: 'NEW-1', title: 'enamel mug' },
        { id: 'NEW-2', title: 'tea towel' },
      ],
    });
    expect(added.status).to.equal(200);
    const numItems = (await embeddedSplit()).dataset.numItems;
    expect(added.body).to.deep.equal({ model: 'sasrec', added: 2, numItems: numItems + 2 });
    const answer = await recommend(base, 'sasrec', { history: users[0], k: 3 });
    expect(answer.status).to.equal(200);
    expect((answer.body.items as Recommendation[])[0]).to.include({ item: 'NEW-2', title: 'tea towel' });
    expect(answer.body.text).to.equal('You might like tea towel.');
    const badItems = await call(base, 'POST', '/v1/models/sasrec/items', { items: [{ id: 'X' }] });
    expect(badItems.status).to.equal(400);
    expect(badItems.body.field).to.equal('items.0.title');
    const noCandidates = await recommend(base, 'sasrec', { history: users[0], candidates: ['NEW-1'] });
    expect(noCandidates.status).to.equal(501);
    expect(noCandidates.body.field).to.equal('candidates');
  });
});

/**
 * A model kind with every optional feature and no candidate ranking, as the LLM pipelines' kinds
 * will have (LLM2Rec and LLM-SRec add items, A-LLMRec generates text): items added at run time are
 * recommended first, newest first, ahead of the wrapped Recommender's answer, and the answer comes
 * with a sentence about the top item.
 */
class CatalogueModel implements ServableModel {
  private readonly added: NewItem[] = [];
  private constructor(private readonly inner: Recommender) {}

  static wrap(inner: Recommender): CatalogueModel {
    return new CatalogueModel(inner);
  }

  get batching() {
    return this.inner.batching;
  }

  info(): ModelInfo {
    const info = this.inner.info();
    return {
      ...info,
      numItems: info.numItems + this.added.length,
      features: { candidates: false, addItems: true, text: true },
    };
  }

  async addItems(items: readonly NewItem[]): Promise<number> {
    const known = new Set(this.added.map((i) => i.id));
    const fresh = items.filter((i) => !known.has(i.id));
    this.added.push(...fresh);
    return fresh.length;
  }

  async recommend(history: readonly (string | number)[], options: RecommendOptions = {}) {
    const k = options.k ?? 10;
    const newest = this.added
      .slice(-k)
      .reverse()
      .map((i) => ({ item: i.id, title: i.title, score: 1e9 }));
    const rest = await this.inner.recommend(history, { ...options, k });
    const items = [...newest, ...rest].slice(0, k);
    return { items, text: `You might like ${items[0]?.title ?? 'nothing yet'}.` };
  }

  warmUp(): Promise<void> {
    return this.inner.warmUp();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('MicroBatcher', () => {
  it('runs a batch when it is full, or when its first call has waited maxWaitMs', async () => {
    const batches: number[][] = [];
    const batcher = new MicroBatcher<number, number>({
      maxBatch: 4,
      maxWaitMs: 80,
      run: async (batch) => {
        batches.push(batch);
        return batch.map((x) => x * 10);
      },
    });
    const sizes: number[] = [];
    const stop = batcher.onBatch((size) => sizes.push(size));
    const t0 = performance.now();
    expect(await Promise.all([1, 2, 3, 4, 5, 6].map((x) => batcher.submit(x)))).to.deep.equal([10, 20, 30, 40, 50, 60]);
    expect(batches).to.deep.equal([
      [1, 2, 3, 4],
      [5, 6],
    ]);
    const lone = performance.now();
    expect(await batcher.submit(7)).to.equal(70);
    expect(performance.now() - lone).to.be.at.least(70);
    expect(performance.now() - t0).to.be.lessThan(2000);
    stop();
    await batcher.submit(8);
    expect(sizes).to.deep.equal([4, 2, 1]);
    // drain() runs what waits without waiting for more.
    const waiting = batcher.submit(9);
    expect(batcher.pending).to.equal(1);
    const drained = performance.now();
    await batcher.drain();
    expect(performance.now() - drained).to.be.lessThan(60);
    expect(await waiting).to.equal(90);
    // A failing batch fails its own calls only.
    const failing = new MicroBatcher<number, number>({
      maxBatch: 2,
      maxWaitMs: 0,
      run: async (batch) => {
        if (batch.includes(13)) throw new Error('unlucky');
        return batch;
      },
    });
    const settled = await Promise.allSettled([12, 13, 14].map((x) => failing.submit(x)));
    expect(settled.map((s) => s.status)).to.deep.equal(['rejected', 'rejected', 'fulfilled']);
    expect(() => new MicroBatcher({ maxBatch: 0, maxWaitMs: 0, run: async () => [] })).to.throw(/maxBatch/);
    expect(() => new MicroBatcher({ maxBatch: 1, maxWaitMs: -1, run: async () => [] })).to.throw(/maxWaitMs/);
  });
});
