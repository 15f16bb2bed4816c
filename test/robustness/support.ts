// What the robustness tests share: the CLI in a child process, a tiny dataset, and a trained run
// folder built once per test process.
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const distRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cliPath = path.join(distRoot, 'lib', 'cli', 'main.js');
export const libIndex = path.join(distRoot, 'lib', 'index.js');
export const fixtures = path.resolve(distRoot, '..', 'test', 'fixtures');

export function runCli(args: string[], options: { cwd?: string; timeout?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [cliPath, ...args], {
    encoding: 'utf8',
    cwd: options.cwd,
    timeout: options.timeout ?? 120_000,
    env: { ...process.env, LLMREC_DEBUG: '' },
  });
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `llmrec-robust-${prefix}-`));
}

/**
 * A RecBole atomic file of 60 users over `items` items, 8 interactions each, deterministic. With
 * 40 items it is a catalogue too small for 1+99 sampled candidates.
 */
export function writeTinyInter(file: string, items = 40): string {
  const lines = ['user_id:token\titem_id:token\ttimestamp:float'];
  let state = 12345;
  const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31);
  for (let u = 0; u < 60; u++)
    for (let t = 0; t < 8; t++) lines.push(`u${u}\ti${(u * 3 + t * 7 + (next() % 3)) % items}\t${t}`);
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** Arguments of a short, valid `llmrec train sasrec` on the tiny dataset, its cache beside it. */
export const tinyTrainArgs = (data: string, out: string): string[] => [
  'train',
  'sasrec',
  '--data',
  data,
  '--cache-dir',
  path.join(path.dirname(data), 'cache'),
  '--epochs',
  '2',
  '--out',
  out,
];

/** One case's line from a case worker (fuzz-worker.ts, files-worker.ts). */
export interface CaseLine {
  case: number;
  name: string;
  args: string;
  outcome: 'threw' | 'returned' | 'internal' | 'non-error' | 'pending';
  message: string;
}

/** Runs a case worker from case `first`; resolves with its JSON lines and how it ended. */
function runFrom(
  worker: string,
  args: string[],
  first: number,
  cwd: string,
): Promise<{ lines: Record<string, unknown>[]; exit: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [worker, String(first), ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    let stderr = '';
    let quiet: NodeJS.Timeout;
    // A case that makes no progress for 20 s is a hang: kill the worker and carry on after it.
    const watchdog = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => child.kill('SIGKILL'), 20_000);
    };
    watchdog();
    child.stdout.on('data', (d: Buffer) => {
      text += d.toString();
      watchdog();
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(quiet);
      const lines = text
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ lines, exit: signal ? `${signal}` : `exit ${code}${stderr ? `: ${stderr.slice(-500)}` : ''}` });
    });
  });
}

/**
 * Runs a case worker in a child process to its end, restarting it after a case that crashed the
 * process or hung; such cases, non-Error throws, never-settling promises and unhandled
 * rejections are the failures.
 */
export async function runCaseWorker(
  worker: string,
  args: string[],
  cwd: string,
): Promise<{ cases: CaseLine[]; failures: string[] }> {
  const cases: CaseLine[] = [];
  const failures: string[] = [];
  let next = 0;
  for (;;) {
    const { lines, exit } = await runFrom(worker, args, next, cwd);
    let running: number | undefined;
    for (const line of lines) {
      if (typeof line.begin === 'number') running = line.begin;
      if (typeof line.case === 'number') {
        cases.push(line as unknown as CaseLine);
        running = undefined;
      }
      if (typeof line.unhandled === 'string') failures.push(`an unhandled rejection: ${line.unhandled}`);
    }
    if (lines.some((l) => l.done === true)) break;
    // The worker died (a native crash) or hung in case `running`: record it and go on after it.
    if (running === undefined) throw new Error(`the worker ${worker} ended outside a case (${exit})`);
    failures.push(`case ${running} ended the process (${exit})`);
    next = running + 1;
  }
  for (const c of cases)
    if (c.outcome === 'non-error' || c.outcome === 'pending')
      failures.push(`${c.name}(${c.args}): ${c.outcome}: ${c.message}`);
  return { cases, failures };
}
