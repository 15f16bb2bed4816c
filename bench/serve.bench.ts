// `llmrec serve` under load on loopback: autocannon drives POST /v1/models/:name/recommend at 1,
// 16 and 64 concurrent connections (closed loop: each connection sends its next request when the
// answer arrives), and the same number of in-process callers drive Recommender.recommend() with
// the same batching settings, so the difference is what HTTP costs. Bounded in requests and time.
//
//   node dist/bench/serve.bench.js [--run NAME=DIR ...] [--device cpu|cuda:N] [--connections 1,16,64]
//     [--requests 400,3000,6000] [--max-batch 64] [--max-wait-ms 0] [--out FILE]
//
// Without --run it serves a freshly initialised SASRec (a-llmrec preset: latency does not depend
// on the weights). --run takes any run folder Recommender.load opens, so each pipeline's can be
// added. The server runs in a child process (the real CLI); client and server share the machine.
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { data, devices, manualSeed, models, Recommender } from '../lib/index.js';
import { percentile } from './recommend.bench.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, '..', 'lib', 'cli', 'main.js');

interface Options {
  runs: { name: string; dir: string }[];
  device: string;
  connections: number[];
  requests: number[];
  maxBatch: number;
  maxWaitMs: number;
  out?: string;
}

export interface ServeBenchRow {
  bench: 'serve';
  run: string;
  path: 'http' | 'in-process';
  connections: number;
  requests: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  requestsPerSecond: number;
}

function parseArgs(argv: string[]): Options {
  const options: Options = {
    runs: [],
    device: 'cpu',
    connections: [1, 16, 64],
    requests: [400, 3000, 6000],
    maxBatch: 64,
    maxWaitMs: 0,
  };
  const list = (value: string | undefined, flag: string) => {
    const numbers = (value ?? '').split(',').map(Number);
    if (numbers.length === 0 || numbers.some((n) => !Number.isInteger(n) || n < 1))
      throw new Error(`${flag} takes positive integers separated by commas, got '${value}'`);
    return numbers;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--run') {
      const v = value();
      const eq = v.indexOf('=');
      options.runs.push(eq > 0 ? { name: v.slice(0, eq), dir: v.slice(eq + 1) } : { name: path.basename(v), dir: v });
    } else if (arg === '--device') options.device = value();
    else if (arg === '--connections') options.connections = list(value(), arg);
    else if (arg === '--requests') options.requests = list(value(), arg);
    else if (arg === '--max-batch') options.maxBatch = list(value(), arg)[0]!;
    else if (arg === '--max-wait-ms') options.maxWaitMs = Number(value());
    else if (arg === '--out') options.out = value();
    else if (arg === '--help' || arg === '-h') {
      console.log(
        'usage: node dist/bench/serve.bench.js [--run NAME=DIR ...] [--device cpu|cuda:N] [--connections 1,16,64] [--requests 400,3000,6000] [--max-batch 64] [--max-wait-ms 0] [--out FILE]',
      );
      process.exit(0);
    } else throw new Error(`serve.bench: unknown argument '${arg}' (see --help)`);
  }
  if (options.requests.length !== options.connections.length)
    throw new Error('serve.bench: --requests needs one count per --connections level');
  return options;
}

/** A loopback port that is free now (the server is told to use it). */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Starts `llmrec serve` (logging warnings only, so that logs cost nothing per request) and waits for /readyz. */
async function startServer(run: { name: string; dir: string }, o: Options) {
  const port = await freePort();
  const args = ['serve', '--model', `${run.name}=${run.dir}`, '--port', String(port), '--device', o.device];
  args.push('--max-batch', String(o.maxBatch), '--max-wait-ms', String(o.maxWaitMs), '--max-queue', '100000');
  const child = spawn(process.execPath, [cli, ...args, '--log-level', 'warn'], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const address = `http://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null) throw new Error(`llmrec serve exited with ${child.exitCode}`);
    if (attempt > 600) throw new Error('llmrec serve was not ready after 60 s');
    const ready = await fetch(`${address}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const stop = async () => {
    child.kill('SIGTERM');
    await exited;
  };
  return { address, stop };
}

async function httpLevel(
  address: string,
  name: string,
  bodies: string[],
  connections: number,
  amount: number,
): Promise<Omit<ServeBenchRow, 'bench' | 'run'>> {
  let next = 0;
  const latencies: number[] = [];
  let finish!: { resolve: (result: autocannon.Result) => void; reject: (error: unknown) => void };
  const done = new Promise<autocannon.Result>((resolve, reject) => (finish = { resolve, reject }));
  const instance = autocannon(
    {
      url: address,
      connections,
      amount,
      timeout: 30,
      requests: [
        {
          method: 'POST',
          path: `/v1/models/${name}/recommend`,
          headers: { 'content-type': 'application/json' },
          setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length]! }),
        },
      ],
    },
    (error, result) => {
      if (error) finish.reject(error);
      else finish.resolve(result);
    },
  );
  // autocannon's own histogram has 1 ms resolution; its response event carries the exact time.
  const started = performance.now();
  let lastAnswer = started;
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    if (statusCode === 200) latencies.push(responseTime);
    lastAnswer = performance.now();
  });
  const guard = setTimeout(() => instance.stop(), 300_000);
  const result = await done;
  clearTimeout(guard);
  // autocannon reports (and ends) on whole-second ticks; the rate is measured to the last answer.
  const seconds = (lastAnswer - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    path: 'http',
    connections,
    requests: latencies.length,
    errors: result.errors + result.non2xx,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    requestsPerSecond: latencies.length / seconds,
  };
}

/** The same closed loop in process: `callers` loops, each awaiting its answer before the next call. */
async function inProcessLevel(
  rec: Recommender,
  histories: string[][],
  callers: number,
  amount: number,
): Promise<Omit<ServeBenchRow, 'bench' | 'run'>> {
  let next = 0;
  let errors = 0;
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < amount) {
        const history = histories[next++ % histories.length]!;
        const t0 = performance.now();
        try {
          await rec.recommend(history, { k: 10 });
          latencies.push(performance.now() - t0);
        } catch {
          errors++;
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    path: 'in-process',
    connections: callers,
    requests: latencies.length,
    errors,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    requestsPerSecond: latencies.length / seconds,
  };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const { dataset } = await data.loadDefaultDataset();
  const split = dataset.leaveOneOut();
  const histories = Array.from({ length: 512 }, (_, i) =>
    [...split.history(i + 1, 'test')].map((id) => dataset.itemKeys[id]!),
  );
  const bodies = histories.map((history) => JSON.stringify({ history, k: 10 }));
  let temp: string | undefined;
  if (o.runs.length === 0) {
    temp = fs.mkdtempSync(path.join(os.tmpdir(), 'llmrec-bench-serve-'));
    manualSeed(0);
    const model = new models.SASRec(models.sasrecConfig(dataset.numItems, 'a-llmrec'));
    models.saveTrainedModel(path.join(temp, 'sasrec'), model, split);
    model.dispose();
    o.runs.push({ name: 'sasrec', dir: path.join(temp, 'sasrec') });
  }
  const machine = o.device.startsWith('cuda')
    ? (devices().cuda.devices[0]?.name ?? 'GPU')
    : `${os.cpus()[0]?.model ?? 'CPU'} x${os.cpus().length}`;
  const context = {
    machine,
    device: o.device,
    date: new Date().toISOString(),
    loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
    maxBatch: o.maxBatch,
    maxWaitMs: o.maxWaitMs,
    node: process.version,
  };
  console.error(`# serve bench: ${JSON.stringify(context)}`);
  const rows: (ServeBenchRow & typeof context)[] = [];
  const record = (run: string, row: Omit<ServeBenchRow, 'bench' | 'run'>) => {
    const full = { bench: 'serve' as const, run, ...row, ...context };
    rows.push(full);
    const line = JSON.stringify(full);
    console.log(line);
    if (o.out) fs.appendFileSync(o.out, `${line}\n`);
  };
  try {
    for (const run of o.runs) {
      const server = await startServer(run, o);
      try {
        await httpLevel(server.address, run.name, bodies, 4, 200); // warm-up: sockets, JIT
        for (const [i, connections] of o.connections.entries())
          record(run.name, await httpLevel(server.address, run.name, bodies, connections, o.requests[i]!));
      } finally {
        await server.stop();
      }
      const rec = await Recommender.load(run.dir, { device: o.device, maxBatch: o.maxBatch, maxWaitMs: o.maxWaitMs });
      try {
        await inProcessLevel(rec, histories, 4, 200);
        for (const [i, callers] of o.connections.entries())
          record(run.name, await inProcessLevel(rec, histories, callers, o.requests[i]!));
      } finally {
        await rec.close();
      }
    }
  } finally {
    if (temp) fs.rmSync(temp, { recursive: true, force: true });
  }
  console.error('\n| run | connections | path | requests | p50 | p99 | req/s |\n|---|---:|---|---:|---:|---:|---:|');
  for (const r of [...rows].sort((a, b) => a.run.localeCompare(b.run) || a.connections - b.connections))
    console.error(
      `| ${r.run} | ${r.connections} | ${r.path} | ${r.requests} | ${r.p50Ms.toFixed(2)} ms | ${r.p99Ms.toFixed(2)} ms | ${r.requestsPerSecond.toFixed(0)} |`,
    );
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(fileURLToPath(import.meta.url))) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
