// Training checkpoints: a directory per save holding the model and optimiser as safetensors and
// the trainer's own state as JSON. A save is built in a temporary directory and renamed into
// place, and `latest.json` (itself replaced atomically) points at the newest complete one, so a
// crash at any moment leaves the previous checkpoint usable.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { writeFileAtomicSync } from '../io/atomic.js';
import { loadSafetensors, saveSafetensorsSync } from '../io/safetensors.js';
import type { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { Tensor } from '../tensor.js';
import { expectArgs } from '../guard.js';

export const MODEL_FILE = 'model.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const STATE_FILE = 'trainer.json';
const LATEST = 'latest.json';

export interface CheckpointPayload {
  model: Module;
  optimizer?: Optimizer;
  /** JSON-serialisable trainer state (epoch, step, RNG, early stopping, history...). */
  state: Record<string, unknown>;
  /** Stored in the model file's safetensors metadata as JSON, e.g. the model's hyperparameters. */
  config?: Record<string, unknown>;
}

function writeDirectoryAtomically(target: string, write: (dir: string) => void): void {
  const parent = path.dirname(target);
  fs.mkdirSync(parent, { recursive: true });
  // mkdirSync rather than mkdtempSync: the directory gets the user's umask, not mode 0700.
  const temp = path.join(parent, `.${path.basename(target)}.tmp-${randomBytes(4).toString('hex')}`);
  fs.mkdirSync(temp);
  try {
    write(temp);
    if (fs.existsSync(target)) {
      // Re-saving the same name (after a resume): move the old one aside first, then drop it.
      const trash = fs.mkdtempSync(path.join(parent, `.${path.basename(target)}.old-`));
      fs.renameSync(target, path.join(trash, 'old'));
      fs.renameSync(temp, target);
      fs.rmSync(trash, { recursive: true, force: true });
    } else {
      fs.renameSync(temp, target);
    }
  } catch (error) {
    fs.rmSync(temp, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Saves model weights (and its config) alone, e.g. the best model so far or a final export. Only
 * `model.safetensors` and `config.json` in `dir` are replaced, each atomically: the directory
 * itself, its mode and anything else in it are left alone.
 */
export function saveModel(dir: string, model: Module, config: Record<string, unknown> = {}): void {
  expectArgs('saveModel', { dir }, 'string');
  expectArgs('saveModel', { model }, 'object');
  expectArgs('saveModel', { config }, 'object');
  fs.mkdirSync(dir, { recursive: true });
  writeModelFiles(dir, model, config);
}

function writeModelFiles(dir: string, model: Module, config: Record<string, unknown>): void {
  const state = model.stateDict();
  try {
    saveSafetensorsSync(path.join(dir, MODEL_FILE), state, { format: 'pt', llmrec_config: JSON.stringify(config) });
  } finally {
    for (const t of state.values()) t.dispose();
  }
  writeFileAtomicSync(path.join(dir, 'config.json'), [Buffer.from(`${JSON.stringify(config, null, 2)}\n`)]);
}

// What writeDirectoryAtomically and writeFileAtomicSync leave behind when the process is killed mid-save.
const saveTemporary = /^\.(.+)\.(tmp|old)-[0-9A-Za-z]+$/;
const fileTemporary = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/;

function processAlive(pid: number): boolean {
  if (pid === process.pid) return false; // this process writes synchronously: nothing of its own is in flight
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Cleans up after saves killed before they finished, which would otherwise pile up one per kill:
 * a `.latest.json.<pid>.<hex>.tmp` whose process is gone is removed; a `.step-N.tmp-*` (a save never renamed into place) is removed; a `.step-N.old-*`
 * holds the previous `step-N` moved aside for a re-save of the same name, so when the kill came
 * before the new one took its place it is moved back (it may be the checkpoint latest.json names),
 * and otherwise removed. A checkpoint root has one writer at a time (the trainer; a run folder's
 * lock keeps other processes out), so none of them belongs to a save in progress.
 */
export function removeStaleTemporaries(root: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(root);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    // A file temporary of writeFileAtomicSync (latest.json's) whose writer is gone.
    const file = fileTemporary.exec(name);
    if (file && !processAlive(Number(file[1]))) {
      fs.rmSync(path.join(root, name), { force: true });
      removed.push(path.join(root, name));
      continue;
    }
    const match = saveTemporary.exec(name);
    if (!match) continue;
    const full = path.join(root, name);
    const target = path.join(root, match[1]!);
    if (match[2] === 'old' && fs.existsSync(path.join(full, 'old')) && !fs.existsSync(target))
      fs.renameSync(path.join(full, 'old'), target);
    fs.rmSync(full, { recursive: true, force: true });
    removed.push(full);
  }
  return removed;
}

/** Writes `<root>/<name>/` and then points `<root>/latest.json` at it. Returns the directory. */
export function saveCheckpoint(root: string, name: string, payload: CheckpointPayload): string {
  expectArgs('saveCheckpoint', { root, name }, 'string');
  expectArgs('saveCheckpoint', { payload }, 'object');
  removeStaleTemporaries(root);
  const target = path.join(root, name);
  writeDirectoryAtomically(target, (dir) => {
    writeModelFiles(dir, payload.model, payload.config ?? {});
    const optimizerState = payload.optimizer?.stateDict();
    try {
      if (optimizerState) saveSafetensorsSync(path.join(dir, OPTIMIZER_FILE), optimizerState.tensors);
      const state = {
        ...payload.state,
        optimizer: optimizerState ? { step: optimizerState.step, groups: optimizerState.groups } : null,
      };
      writeFileAtomicSync(path.join(dir, STATE_FILE), [Buffer.from(`${JSON.stringify(state, null, 2)}\n`)]);
    } finally {
      for (const t of optimizerState?.tensors.values() ?? []) t.dispose();
    }
  });
  writeFileAtomicSync(path.join(root, LATEST), [Buffer.from(JSON.stringify({ checkpoint: name }))]);
  return target;
}

/** The directory `latest.json` points at, or null when there is no complete checkpoint. */
export function latestCheckpoint(root: string): string | null {
  expectArgs('latestCheckpoint', { root }, 'string');
  removeStaleTemporaries(root);
  const pointer = path.join(root, LATEST);
  if (!fs.existsSync(pointer)) return null;
  let name: unknown;
  try {
    name = (JSON.parse(fs.readFileSync(pointer, 'utf-8')) as { checkpoint?: unknown }).checkpoint;
  } catch (error) {
    throw new Error(
      `checkpoint: ${pointer} is not valid JSON (${(error as Error).message}); delete it to start afresh`,
      { cause: error },
    );
  }
  if (typeof name !== 'string' || name.includes('/') || name.includes('..'))
    throw new Error(`checkpoint: ${pointer} names ${JSON.stringify(name)}, not a checkpoint directory`);
  const dir = path.join(root, name);
  if (!fs.existsSync(path.join(dir, STATE_FILE)))
    throw new Error(`checkpoint: ${pointer} points at ${dir}, which is incomplete or missing`);
  return dir;
}

/**
 * Loads a checkpoint into the model (and optimiser); returns the trainer state. `checkState` sees
 * the parsed trainer.json before anything is loaded, so a damaged one changes nothing.
 */
export function loadCheckpoint(
  dir: string,
  model: Module,
  optimizer?: Optimizer,
  checkState?: (state: Record<string, unknown>, file: string) => void,
): Record<string, unknown> {
  expectArgs('loadCheckpoint', { dir }, 'string');
  const statePath = path.join(dir, STATE_FILE);
  let state: Record<string, unknown>;
  try {
    state = JSON.parse(fs.readFileSync(statePath, 'utf-8')) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`checkpoint: cannot read ${statePath}: ${(error as Error).message}`, { cause: error });
  }
  if (typeof state !== 'object' || state === null || Array.isArray(state))
    throw new Error(
      `checkpoint: ${statePath} is damaged (it does not hold a JSON object); delete the checkpoint folder ${dir} to start from the one before`,
    );
  checkState?.(state, statePath);
  loadModel(dir, model);
  // A trainer.json that parses can still be damaged (a flipped byte renames a key): refuse it
  // here, naming the file, rather than fail inside the optimiser or the trainer.
  const saved = state?.optimizer as { step: number; groups: Record<string, unknown>[] } | null | undefined;
  if (
    typeof state !== 'object' ||
    state === null ||
    Array.isArray(state) ||
    (saved !== null &&
      (typeof saved !== 'object' ||
        !Number.isSafeInteger(saved.step) ||
        !Array.isArray(saved.groups) ||
        !saved.groups.every((g) => typeof g === 'object' && g !== null)))
  )
    throw new Error(
      `checkpoint: ${statePath} is damaged (its "optimizer" entry is not { step, groups } or null); delete the checkpoint folder ${dir} to start from the one before`,
    );
  if (optimizer && saved) {
    const tensors = loadSafetensors(path.join(dir, OPTIMIZER_FILE));
    try {
      optimizer.loadStateDict({ step: saved.step, groups: saved.groups, tensors });
    } catch (error) {
      throw new Error(`checkpoint: ${statePath} or ${OPTIMIZER_FILE} does not fit: ${(error as Error).message}`, {
        cause: error,
      });
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
  }
  return state;
}

/** Loads `<dir>/model.safetensors` into the model (strict). */
export function loadModel(dir: string, model: Module): void {
  expectArgs('loadModel', { dir }, 'string');
  expectArgs('loadModel', { model }, 'object');
  const device = model.parameters()[0]?.device;
  const tensors: Map<string, Tensor> = loadSafetensors(path.join(dir, MODEL_FILE), { device });
  try {
    model.loadStateDict(tensors);
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

/** The config saved with a model, from `<dir>/config.json`. */
export function readModelConfig(dir: string): Record<string, unknown> {
  expectArgs('readModelConfig', { dir }, 'string');
  const file = path.join(dir, 'config.json');
  try {
    return JSON.parse(fs.readFileSync(file, 'utf-8')) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`checkpoint: cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
}

/** Removes all but the newest `keep` step checkpoints (named step-<n>). */
export function pruneCheckpoints(root: string, keep: number): void {
  expectArgs('pruneCheckpoints', { root }, 'string');
  const steps = fs
    .readdirSync(root)
    .filter((name) => /^step-\d+$/.test(name))
    .sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)));
  for (const name of steps.slice(0, Math.max(0, steps.length - keep)))
    fs.rmSync(path.join(root, name), { recursive: true, force: true });
}
