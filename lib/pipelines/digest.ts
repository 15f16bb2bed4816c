// Content digests of a stage's inputs and outputs (sha256), so a manifest says exactly what a
// result was computed from and `all` can tell whether a finished stage is still current. Files
// are streamed, and a file whose path, size and mtime match an earlier digest is not read again.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expectArgs, expectArrayOf } from '../guard.js';

export interface FileDigest {
  /** Absolute for inputs; relative to the stage folder for outputs. */
  path: string;
  bytes: number;
  mtimeMs: number;
  sha256: string;
}

/** One input or output: its own digest, over the files it consists of. */
export interface Digest {
  path: string;
  sha256: string;
  files: FileDigest[];
}

/** sha256 of a file's bytes, streamed. */
export async function sha256File(file: string): Promise<string> {
  expectArgs('sha256File', { file }, 'string');
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** One sha256 over named digests (order-independent: sorted by name). */
export function combineDigests(entries: readonly { path: string; sha256: string }[]): string {
  expectArrayOf('combineDigests', { entries }, 'object');
  const hash = createHash('sha256');
  for (const e of [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)))
    hash.update(`${e.path}\0${e.sha256}\n`);
  return hash.digest('hex');
}

async function digestFile(file: string, shownAs: string, known: ReadonlyMap<string, FileDigest>): Promise<FileDigest> {
  const stat = fs.statSync(file);
  const previous = known.get(shownAs);
  if (previous && previous.bytes === stat.size && previous.mtimeMs === stat.mtimeMs) return previous;
  return { path: shownAs, bytes: stat.size, mtimeMs: stat.mtimeMs, sha256: await sha256File(file) };
}

/** Every regular file under `dir`, relative to it (symbolic links are followed by stat, not walked). */
function filesUnder(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(dir, prefix), { withFileTypes: true })) {
    const relative = path.join(prefix, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(dir, relative));
    else if (entry.isFile()) out.push(relative);
  }
  return out.sort();
}

/** The files that stand for a model folder's content: its config and weights (Hugging Face layout). */
function modelFolderFiles(dir: string): string[] | undefined {
  const names = fs.readdirSync(dir).filter((n) => n === 'config.json' || /\.safetensors(\.index\.json)?$/.test(n));
  return names.some((n) => n.endsWith('.safetensors')) ? names.sort() : undefined;
}

/**
 * The digest of an input: a file's bytes; a folder of an llmrec run by the outputs its
 * manifest records; a model folder by its config and weights; any other folder by all its files.
 * `known` holds earlier digests (by path) to skip re-reading unchanged files.
 */
export async function digestInput(target: string, known: readonly FileDigest[] = []): Promise<Digest> {
  expectArgs('digestInput', { target }, 'string');
  const absolute = path.resolve(target);
  if (!fs.existsSync(absolute)) throw new Error(`input ${target} does not exist`);
  const cache = new Map(known.map((f) => [f.path, f]));
  if (fs.statSync(absolute).isFile()) {
    const file = await digestFile(absolute, absolute, cache);
    return { path: absolute, sha256: file.sha256, files: [file] };
  }
  const manifest = path.join(absolute, 'manifest.json');
  if (fs.existsSync(manifest)) {
    const stages = (JSON.parse(fs.readFileSync(manifest, 'utf-8')) as { stages?: Record<string, StageOutputs> }).stages;
    const outputs = Object.entries(stages ?? {})
      .filter(([, s]) => s.status === 'done')
      .map(([name, s]) => ({ path: name, sha256: combineDigests(Object.values(s.outputs ?? {})) }));
    return { path: absolute, sha256: combineDigests(outputs), files: [] };
  }
  const names = modelFolderFiles(absolute) ?? filesUnder(absolute);
  const files: FileDigest[] = [];
  for (const name of names) files.push(await digestFile(path.join(absolute, name), path.join(absolute, name), cache));
  return {
    path: absolute,
    sha256: combineDigests(files.map((f) => ({ path: path.relative(absolute, f.path), sha256: f.sha256 }))),
    files,
  };
}

interface StageOutputs {
  status?: string;
  outputs?: Record<string, { path: string; sha256: string }>;
}

/** Digests of a stage's outputs: `relative` paths under `dir` (a folder stands for all its files). */
export async function digestOutputs(dir: string, relative: readonly string[]): Promise<Record<string, FileDigest>> {
  expectArgs('digestOutputs', { dir }, 'string');
  expectArrayOf('digestOutputs', { relative }, 'string');
  const out: Record<string, FileDigest> = {};
  for (const name of relative) {
    const full = path.join(dir, name);
    if (!fs.existsSync(full)) throw new Error(`the stage lists the output ${name}, but ${full} does not exist`);
    const names = fs.statSync(full).isDirectory() ? filesUnder(full).map((f) => path.join(name, f)) : [name];
    for (const n of names) out[n] = await digestFile(path.join(dir, n), n, new Map());
  }
  return out;
}
