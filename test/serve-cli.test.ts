// `llmrec serve` as a user runs it: the README's commands as written (against an ephemeral port),
// SIGHUP reloads, SIGTERM with requests in flight, bad flags; and a bounded soak over loopback.
import { expect } from 'chai';
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { memory } from '../lib/index.js';
import { metricHelp } from '../lib/serve/http/metrics.js';
import { createServer } from '../lib/serve/http/server.js';
import {
  call,
  cliPath,
  histories,
  metricValue,
  recommend,
  startServeProcess,
  writeSasrecRun,
  type ServeProcess,
} from './support/serving.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const readme = fs.readFileSync(
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'README.md'),
  'utf-8',
);

/** The README's "Serving over HTTP" section: its shell commands (continuations joined) with what they print. */
function servingExamples(): { command: string; answer?: string }[] {
  const start = readme.indexOf('### Serving over HTTP');
  expect(start, 'README has a "Serving over HTTP" section').to.be.greaterThan(0);
  const rest = readme.slice(start + 1);
  const section = rest.slice(0, rest.search(/\n#{2,3} /));
  const examples: { command: string; answer?: string }[] = [];
  for (const block of section.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const lines = block[1]!.replace(/\\\n\s*/g, '').split('\n');
    lines.forEach((line, i) => {
      if (line.startsWith('#') || line.trim() === '') return;
      const next = lines[i + 1];
      examples.push({ command: line, answer: next?.startsWith('# ') ? next.slice(2) : undefined });
    });
  }
  return examples;
}

/** Same keys all the way down (arrays by their first element); values may differ between models. */
function sameShape(actual: unknown, expected: unknown, where = '$'): void {
  if (Array.isArray(expected)) {
    expect(actual, where).to.be.an('array');
    if (expected.length > 0) sameShape((actual as unknown[])[0], expected[0], `${where}[0]`);
  } else if (expected !== null && typeof expected === 'object') {
    expect(actual, where).to.be.an('object');
    expect(Object.keys(actual as object).sort(), where).to.deep.equal(Object.keys(expected).sort());
    for (const [key, value] of Object.entries(expected))
      sameShape((actual as Record<string, unknown>)[key], value, `${where}.${key}`);
  } else expect(typeof actual, where).to.equal(typeof expected);
}

describe('llmrec serve (command line)', function () {
  this.timeout(120_000);
  let root: string;
  let users: string[][];
  const started: ServeProcess[] = [];

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'llmrec-serve-cli-'));
    await writeSasrecRun(path.join(root, 'runs', 'sasrec'), 0);
    users = await histories(16);
  });
  afterEach(async () => {
    for (const p of started.splice(0)) {
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
      await p.exited;
    }
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('documents its options with --help and refuses bad flags', () => {
    const help = spawnSync(process.execPath, [cliPath, 'serve', '--help'], { encoding: 'utf8' });
    expect(help.status).to.equal(0);
    for (const flag of ['--model', '--port', '--host', '--device', '--max-batch', '--max-wait-ms', '--max-queue'])
      expect(help.stdout).to.include(flag);
    expect(help.stdout).to.match(/--model <string>.*repeatable/);
    const badQueue = spawnSync(process.execPath, [cliPath, 'serve', '--max-queue', '0'], { encoding: 'utf8' });
    expect(badQueue.status).to.equal(2);
    expect(badQueue.stderr).to.match(/--max-queue must be at least 1/);
    const twice = spawnSync(process.execPath, [cliPath, 'serve', '--model', 'a=x', '--model', 'a=y'], {
      encoding: 'utf8',
    });
    expect(twice.status).to.equal(2);
    expect(twice.stderr).to.match(/two models are named 'a'/);
    const missing = spawnSync(
      process.execPath,
      [cliPath, 'serve', '--model', path.join(root, 'nothing-here'), '--port', '0', '--log-level', 'silent'],
      { encoding: 'utf8' },
    );
    expect(missing.status).to.equal(1);
    expect(missing.stderr).to.match(/model 'nothing-here': .*nothing-here/);
  });

  it("runs the README's serve command and curl examples as written (on an ephemeral port)", async function () {
    if (spawnSync('curl', ['--version']).error) this.skip(); // a GPU machine may lack curl; CI and developers have it
    const examples = servingExamples();
    const serveLine = examples.find((e) => e.command.startsWith('npx llmrec serve '));
    expect(serveLine, 'the README shows how to start the server').to.not.equal(undefined);
    // `npx llmrec` is this checkout's CLI; the port is the only thing changed.
    const args = serveLine!.command
      .replace(/\s+#.*$/, '')
      .split(/\s+/)
      .slice(3);
    const server = await startServeProcess([...args, '--port', '0'], { cwd: root });
    started.push(server);
    const curls = examples.filter((e) => e.command.startsWith('curl '));
    expect(curls.length).to.be.at.least(4);
    for (const { command, answer } of curls) {
      const line = command
        .replace(/\s+#[^']*$/, '')
        .replaceAll('localhost:8080', server.address.replace('http://', ''));
      const { stdout } = await run('sh', ['-c', line]);
      expect(stdout.trim(), command).to.not.equal('');
      if (answer?.startsWith('{')) sameShape(JSON.parse(stdout), JSON.parse(answer), command);
      else if (answer)
        expect(stdout.trim().split('\n')[0], command).to.match(new RegExp(`^${answer.split(/[{ ]/)[0]}`));
    }
    // The metrics list in the README is the server's.
    for (const name of Object.keys(metricHelp)) expect(readme, name).to.include(`\`${name}\``);
  });

  it('reloads on SIGHUP, refuses a corrupt checkpoint, and drains requests in flight on SIGTERM', async () => {
    const dir = path.join(root, 'hup');
    await writeSasrecRun(dir, 1);
    const server = await startServeProcess(['--model', `live=${dir}`, '--port', '0', '--max-wait-ms', '400']);
    started.push(server);
    const generation = async () =>
      ((await call(server.address, 'GET', '/v1/models')).body.models as { generation: number }[])[0]!.generation;
    expect(await generation()).to.equal(1);

    await writeSasrecRun(dir, 2);
    server.child.kill('SIGHUP');
    for (let i = 0; i < 100 && (await generation()) !== 2; i++) await sleep(50);
    expect(await generation()).to.equal(2);

    fs.writeFileSync(path.join(dir, 'model.safetensors'), Buffer.from('{"truncated'));
    server.child.kill('SIGHUP');
    for (let i = 0; i < 100 && !server.logs.some((l) => l.msg === 'reload refused'); i++) await sleep(50);
    const refusal = server.logs.find((l) => l.msg === 'reload refused') as { err: { message: string } } | undefined;
    expect(refusal?.err.message).to.match(/did not load.*generation 2 .* keeps serving/);
    expect(await generation()).to.equal(2);

    // Requests wait 400 ms in the batcher; SIGTERM arrives while they are held.
    const inFlight = users.slice(0, 8).map((history) => recommend(server.address, 'live', { history, k: 5 }));
    await sleep(150);
    server.child.kill('SIGTERM');
    const answers = await Promise.all(inFlight);
    for (const a of answers) {
      expect(a.status).to.equal(200);
      expect(a.body.items).to.have.length(5);
    }
    expect(await server.exited).to.equal(0);
    expect(server.logs.map((l) => l.msg)).to.include.members([
      'shutting down: no new connections, answering requests in flight',
      'stopped',
    ]);
  });
});

describe('llmrec serve soak', function () {
  this.timeout(180_000);

  it('3,000 requests over loopback: each answered or refused with 503, none lost; memory stays flat', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'llmrec-soak-'));
    const dir = path.join(root, 'sasrec');
    await writeSasrecRun(dir, 0);
    const users = await histories(256);
    const server = createServer({ models: [{ name: 'sasrec', dir }], maxQueue: 12, maxBatch: 16, maxWaitMs: 1 });
    try {
      const base = await server.listen({ port: 0 });
      await server.loaded;
      const statuses = new Map<number, number>();
      const lost: string[] = [];
      let next = 0;
      const load = async (requests: number, workers: number) => {
        const end = next + requests;
        await Promise.all(
          Array.from({ length: workers }, async () => {
            while (next < end) {
              const i = next++;
              try {
                const answer = await recommend(base, 'sasrec', { history: users[i % users.length], k: 10 });
                statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
                if (answer.status === 200 && (answer.body.items as unknown[]).length !== 10)
                  lost.push(`#${i}: short answer`);
              } catch (error) {
                lost.push(`#${i}: ${(error as Error).message}`);
              }
            }
          }),
        );
      };
      const settle = async () => {
        await sleep(50);
        global.gc?.();
        return { heap: process.memoryUsage().heapUsed, native: memory('cpu').bytesInUse };
      };
      await load(500, 24); // warm-up: sockets, JIT, allocator caches
      const before = await settle();
      await load(3000, 24);
      const after = await settle();

      expect(lost, lost.slice(0, 5).join('\n')).to.deep.equal([]);
      expect([...statuses.keys()].sort()).to.deep.equal([200, 503].filter((s) => statuses.has(s)));
      expect((statuses.get(200) ?? 0) + (statuses.get(503) ?? 0)).to.equal(3500);
      expect(statuses.get(200)).to.be.greaterThan(500);
      const text = await (await fetch(`${base}/metrics`)).text();
      const route = 'method="POST",route="/v1/models/:name/recommend"';
      expect(metricValue(text, `llmrec_http_requests_total{${route},status_code="200"}`)).to.equal(statuses.get(200));
      expect(metricValue(text, `llmrec_http_requests_total{${route},status_code="503"}`) ?? 0).to.equal(
        statuses.get(503) ?? 0,
      );
      expect(metricValue(text, 'llmrec_requests_in_flight{model="sasrec"}')).to.equal(0);
      // Native memory: the same live tensors before and after; the JS heap within a few MB.
      expect(after.native - before.native, 'allocator bytes in use').to.be.at.most(0);
      expect(after.heap - before.heap, 'JS heap').to.be.lessThan(8 << 20);
    } finally {
      await server.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
