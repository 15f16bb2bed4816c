// A run folder: one folder per pipeline run, holding each stage's outputs and checkpoints in
// `<dir>/<stage>/` and a `manifest.json` that records, per stage, its status, config, inputs by
// sha256, outputs, metrics and times.
//
// It is the user's folder, so the rules are strict:
// - only a new or empty folder becomes a run folder; a folder holding anything else, or the run
//   folder of another pipeline, is refused with a message that says what is there;
// - files are written one by one, each atomically (a temporary file in the same folder, fsync,
//   rename); no directory is ever replaced or deleted, the folder's mode is left alone, and
//   anything else the user puts in the folder stays untouched;
// - one process at a time (a lock file with its pid; a lock whose process is gone is taken over);
// - temporaries left by a killed save are removed at the next open.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { buildInfo } from '../device.js';
import { writeFileAtomicSync } from '../io/atomic.js';
import { removeStaleTemporaries } from '../train/checkpoint.js';
import type { Digest, FileDigest } from './digest.js';
import { expectArgs } from '../guard.js';

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_FORMAT = 'llmrec-run';
export const MANIFEST_VERSION = 1;
const LOCK_FILE = '.llmrec.lock';

export type StageStatus = 'running' | 'done' | 'failed';

export interface StageRecord {
  status: StageStatus;
  /** The merged config keys this stage depends on. */
  config: Record<string, unknown>;
  /** Input files and folders (config keys marked `input`) and required stages (`stage:<name>`), by digest. */
  inputs: Record<string, Digest>;
  /** Files the stage wrote, relative to its folder, by digest. */
  outputs: Record<string, FileDigest>;
  metrics?: Record<string, unknown>;
  started: string;
  ended?: string;
  seconds?: number;
  /** Why it failed. */
  error?: string;
  /**
   * While a rerun is running or after it failed: the record of the stage's last done run, whose
   * outputs stay on disk until a rerun succeeds (a diverged retrain leaves the good model usable).
   */
  lastDone?: StageRecord;
}

export interface RunManifest {
  format: typeof MANIFEST_FORMAT;
  version: number;
  pipeline: string;
  /** The llmrec version that created the run, and the one that wrote the manifest last. */
  created: { llmrec: string; time: string };
  llmrec: string;
  stages: Record<string, StageRecord>;
}

/** The run's manifest, or null when `dir` has no manifest.json; an Error when it is not an llmrec manifest. */
export function readRunManifest(dir: string): RunManifest | null {
  expectArgs('readRunManifest', { dir }, 'string');
  const file = path.join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf-8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`run folder: cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  let manifest: Partial<RunManifest>;
  try {
    manifest = JSON.parse(text) as Partial<RunManifest>;
  } catch (error) {
    throw new Error(
      `run folder: ${file} is not valid JSON (${(error as Error).message}); it was not written by llmrec, which writes it atomically`,
      { cause: error },
    );
  }
  if (manifest?.format !== MANIFEST_FORMAT)
    throw new Error(
      `run folder: ${file} is not an llmrec run manifest (no "format": "${MANIFEST_FORMAT}"); this folder belongs to something else: choose another folder`,
    );
  if (typeof manifest.version !== 'number' || manifest.version > MANIFEST_VERSION)
    throw new Error(
      `run folder: ${file} has manifest version ${String(manifest.version)}; this llmrec reads up to ${MANIFEST_VERSION}: upgrade llmrec`,
    );
  if (typeof manifest.pipeline !== 'string' || typeof manifest.stages !== 'object' || manifest.stages === null)
    throw new Error(`run folder: ${file} lacks its pipeline or stages`);
  const damaged = (field: string, wanted: string, got: unknown): never => {
    throw new Error(
      `run folder: ${file} is damaged: "${field}" must be ${wanted}, got ${JSON.stringify(got) ?? 'nothing'}; restore it or start a new run folder`,
    );
  };
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (manifest.llmrec !== undefined && typeof manifest.llmrec !== 'string')
    damaged('llmrec', 'a version string', manifest.llmrec);
  if (manifest.created !== undefined && !(isObject(manifest.created) && typeof manifest.created.time === 'string'))
    damaged('created', 'an object { llmrec, time }', manifest.created);
  const checkStage = (record: unknown, field: string): void => {
    if (!isObject(record)) return damaged(field, 'an object', record);
    if (!['running', 'done', 'failed'].includes(record.status as string))
      damaged(`${field}.status`, '"running", "done" or "failed"', record.status);
    for (const key of ['config', 'inputs', 'outputs'])
      if (!isObject(record[key])) damaged(`${field}.${key}`, 'an object', record[key]);
    for (const [name, digest] of Object.entries(record.outputs as Record<string, unknown>))
      if (!isObject(digest) || typeof digest.sha256 !== 'string')
        damaged(`${field}.outputs.${name}`, 'a file digest { sha256, ... }', digest);
    if (typeof record.started !== 'string') damaged(`${field}.started`, 'a time string', record.started);
    if (record.ended !== undefined && typeof record.ended !== 'string')
      damaged(`${field}.ended`, 'a time string', record.ended);
    if (record.seconds !== undefined && typeof record.seconds !== 'number')
      damaged(`${field}.seconds`, 'a number', record.seconds);
    if (record.error !== undefined && typeof record.error !== 'string')
      damaged(`${field}.error`, 'a string', record.error);
    if (record.metrics !== undefined && !isObject(record.metrics))
      damaged(`${field}.metrics`, 'an object', record.metrics);
    if (record.lastDone !== undefined) checkStage(record.lastDone, `${field}.lastDone`);
  };
  for (const [name, record] of Object.entries(manifest.stages)) checkStage(record, `stages.${name}`);
  return manifest as RunManifest;
}

/** Folders this process holds open (the lock file guards against other processes). */
const openHere = new Set<string>();

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// The temporaries of lib/io/atomic.ts (`.name.<pid>.<hex>.tmp`) and of checkpoint saves
// (`.name.tmp-<hex>`, `.name.old-<hex>`, see removeStaleTemporaries): only these are ever
// removed, and only inside the folders of a run's own stages.
const fileTemporary = /^\..+\.\d+\.[0-9a-f]{8}\.tmp$/;

function removeTemporaries(dir: string): string[] {
  // Directory temporaries first: an interrupted re-save is moved back into place, not deleted.
  const removed = removeStaleTemporaries(dir);
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return removed;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isFile() && fileTemporary.test(entry.name)) {
      fs.rmSync(full, { force: true });
      removed.push(full);
    } else if (entry.isDirectory()) {
      removed.push(...removeTemporaries(full));
    }
  }
  return removed;
}

function describeEntries(dir: string, names: string[]): string {
  const shown = names
    .slice(0, 6)
    .map((n) => (fs.statSync(path.join(dir, n), { throwIfNoEntry: false })?.isDirectory() ? `${n}/` : n));
  return `${shown.join(', ')}${names.length > 6 ? `, and ${names.length - 6} more` : ''}`;
}

export class RunFolder {
  private constructor(
    readonly dir: string,
    private current: RunManifest,
    private readonly lock: string,
  ) {}

  /**
   * Opens `dir` as a run folder of `pipeline` for writing: creates it (or claims it when empty),
   * or reopens a run folder of the same pipeline. Close it when done.
   */
  static open(dir: string, pipeline: string): RunFolder {
    expectArgs('RunFolder.open', { dir, pipeline }, 'string');
    const stat = fs.statSync(dir, { throwIfNoEntry: false });
    if (stat && !stat.isDirectory()) throw new Error(`run folder: ${dir} is a file, not a folder; choose a folder`);
    if (!stat) fs.mkdirSync(dir, { recursive: true });
    const real = fs.realpathSync(dir);
    if (openHere.has(real)) throw new Error(`run folder: ${dir} is already open in this process`);
    let manifest = readRunManifest(dir);
    if (manifest && manifest.pipeline !== pipeline)
      throw new Error(
        `run folder: ${dir} holds a ${manifest.pipeline} run; a ${pipeline} run needs its own folder: choose another --out`,
      );
    if (!manifest) {
      const names = fs.readdirSync(dir);
      if (names.length > 0) {
        const legacy = names.includes('config.json') && names.includes('model.safetensors');
        throw new Error(
          `run folder: ${dir} is not empty (${describeEntries(dir, names)}) and is not an llmrec run folder (no ${MANIFEST_FILE}); ` +
            `llmrec writes a run only into a new or empty folder, so that nothing of yours is overwritten. ` +
            (legacy
              ? `It looks like a model saved by an earlier \`llmrec train\`: it still loads (Recommender.load, \`llmrec recommend --model ${dir}\`). `
              : '') +
            `Choose another --out (e.g. ${path.join(dir, pipeline)}).`,
        );
      }
      const version = buildInfo().version;
      manifest = {
        format: MANIFEST_FORMAT,
        version: MANIFEST_VERSION,
        pipeline,
        created: { llmrec: version, time: new Date().toISOString() },
        llmrec: version,
        stages: {},
      };
      // The manifest first: from here on the folder is recognisably a run folder.
      writeFileAtomicSync(path.join(dir, MANIFEST_FILE), [Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`)]);
    }
    const lock = RunFolder.acquireLock(dir, real);
    const folder = new RunFolder(dir, manifest, lock);
    try {
      folder.removeTemporaries();
      return folder;
    } catch (error) {
      folder.close();
      throw error;
    }
  }

  private static acquireLock(dir: string, real: string): string {
    expectArgs('RunFolder.acquireLock', { dir, real }, 'string');
    const file = path.join(dir, LOCK_FILE);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
        openHere.add(real);
        return file;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      let holder: number;
      try {
        holder = Number.parseInt(fs.readFileSync(file, 'utf-8'), 10);
      } catch {
        continue; // released meanwhile
      }
      if (Number.isInteger(holder) && holder !== process.pid && processAlive(holder))
        throw new Error(
          `run folder: ${dir} is in use by llmrec process ${holder}; wait for it to finish (or delete ${file} if that process is not llmrec)`,
        );
      fs.rmSync(file, { force: true }); // left by a process that is gone
    }
    throw new Error(`run folder: cannot take the lock ${file}; another process keeps taking it`);
  }

  /** Temporaries of the manifest and of the stages' saves, left by a killed process. */
  private removeTemporaries(): string[] {
    const removed: string[] = [];
    for (const name of fs.readdirSync(this.dir))
      if (name.startsWith(`.${MANIFEST_FILE}.`) && fileTemporary.test(name)) {
        fs.rmSync(path.join(this.dir, name), { force: true });
        removed.push(path.join(this.dir, name));
      }
    for (const stage of Object.keys(this.current.stages))
      removed.push(...removeTemporaries(path.join(this.dir, stage)));
    return removed;
  }

  get manifest(): Readonly<RunManifest> {
    return this.current;
  }

  get pipeline(): string {
    return this.current.pipeline;
  }

  /** A stage's record, if it has run. */
  stage(name: string): Readonly<StageRecord> | undefined {
    return this.current.stages[name];
  }

  /** Where `stage` keeps its outputs and checkpoints (created on first use). */
  stageDir(stage: string): string {
    if (!/^[a-z][\w-]*$/.test(stage)) throw new Error(`run folder: '${stage}' is not a valid stage name`);
    const dir = path.join(this.dir, stage);
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** Records a stage's state and rewrites the manifest atomically. */
  setStage(name: string, record: StageRecord): void {
    this.current = {
      ...this.current,
      llmrec: buildInfo().version,
      stages: { ...this.current.stages, [name]: record },
    };
    writeFileAtomicSync(path.join(this.dir, MANIFEST_FILE), [
      Buffer.from(`${JSON.stringify(this.current, null, 2)}\n`),
    ]);
  }

  /** Writes `<dir>/<stage>/<name>` atomically. */
  writeFile(stage: string, name: string, data: string | Uint8Array): string {
    const relative = path.normalize(name);
    if (path.isAbsolute(relative) || relative.startsWith('..'))
      throw new Error(`run folder: '${name}' is not a path inside the stage folder`);
    const file = path.join(this.stageDir(stage), relative);
    writeFileAtomicSync(file, [typeof data === 'string' ? Buffer.from(data) : data]);
    return file;
  }

  /** Writes `<dir>/<stage>/<name>` as pretty JSON, atomically. */
  writeJson(stage: string, name: string, value: unknown): string {
    return this.writeFile(stage, name, `${JSON.stringify(value, null, 2)}\n`);
  }

  /** Releases the folder (its lock); the manifest is already on disk. */
  close(): void {
    try {
      openHere.delete(fs.realpathSync(this.dir));
    } catch {
      /* the folder was removed under us */
    }
    try {
      if (Number.parseInt(fs.readFileSync(this.lock, 'utf-8'), 10) === process.pid) fs.rmSync(this.lock);
    } catch {
      /* already gone */
    }
  }
}
