// Helpers for the serving tests: run folders of a fresh (untrained) SASRec, JSON over HTTP on
// loopback, and `llmrec serve` as a child process. Serving does not depend on the weights, so an
// initialised model is enough and costs no training time.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { data, manualSeed, models } from '../../lib/index.js';

export const cliPath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'lib', 'cli', 'main.js');

let split: data.LeaveOneOutSplit | undefined;

export async function embeddedSplit(): Promise<data.LeaveOneOutSplit> {
  split ??= (await data.loadDefaultDataset()).dataset.leaveOneOut();
  return split;
}

/** Writes a SASRec run folder (a-llmrec preset, weights drawn from `seed`) to `dir`. */
export async function writeSasrecRun(dir: string, seed: number): Promise<void> {
  const s = await embeddedSplit();
  manualSeed(seed);
  const model = new models.SASRec(models.sasrecConfig(s.dataset.numItems, 'a-llmrec'));
  try {
    models.saveTrainedModel(dir, model, s);
  } finally {
    model.dispose();
  }
}

/** The test users' histories in the dataset's item ids. */
export async function histories(count: number): Promise<string[][]> {
  const s = await embeddedSplit();
  return Array.from({ length: count }, (_, i) => [...s.history(i + 1, 'test')].map((id) => s.dataset.itemKeys[id]!));
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** One HTTP request with a JSON (or raw string) body; the answer parsed as JSON. */
export async function call(
  base: string,
  method: string,
  route: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<JsonResponse> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${base}${route}`, init);
  const text = await response.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { text };
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

export const recommend = (base: string, model: string, body: unknown) =>
  call(base, 'POST', `/v1/models/${model}/recommend`, body);

/** The value of one sample in Prometheus text, e.g. metric('llmrec_batch_size_count{model="m"}'). */
export function metricValue(text: string, sample: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}

export interface ServeProcess {
  child: ChildProcessWithoutNullStreams;
  /** http://127.0.0.1:PORT, from the 'ready' log line. */
  address: string;
  /** Every JSON log line so far. */
  logs: Record<string, unknown>[];
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/** Starts `llmrec serve ARGS` (node on the built CLI) and waits for its 'ready' line. */
export function startServeProcess(
  args: string[],
  options: { cwd?: string; command?: string[] } = {},
): Promise<ServeProcess> {
  const command = options.command ?? [process.execPath, cliPath, 'serve'];
  const child = spawn(command[0]!, [...command.slice(1), ...args], { cwd: options.cwd, stdio: 'pipe' });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === 'ready') resolve({ child, address: entry.address as string, logs, exited });
      } catch {
        /* not a log line */
      }
    });
    void exited.then((code) =>
      reject(new Error(`llmrec serve exited with ${code} before it was ready:\n${stderr}\n${JSON.stringify(logs)}`)),
    );
  });
}
