// What the robustness tests share: the CLI in a child process, a tiny dataset, and a trained run
// folder built once per test process.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
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
