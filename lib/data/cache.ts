// The binary dataset cache: a prepared dataset is written once and read back with a few memcpys
// and one JSON.parse, keyed by the source files (path, size, mtime) and every option that
// changes the result, so a changed file or option never returns a stale dataset.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SequenceDataset, splitPositionNames, type DatasetSummary, type SplitPositions } from './dataset.js';
import type { LoadReport } from './text.js';
import { expectArgs } from '../guard.js';

const magic = Buffer.from('LLMRDS\u0000\u0003', 'latin1');
/** Bump when the layout or the preprocessing changes, so older caches miss. */
export const cacheFormatVersion = 3;

/** Where caches go: $LLMREC_CACHE_DIR, else ~/.cache/llmrec/datasets. */
export function defaultCacheDir(): string {
  return process.env.LLMREC_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'llmrec', 'datasets');
}

/** The cache key of a dataset built from `files` with `options` (any JSON-serialisable value). */
export function cacheKey(files: string[], options: unknown): string {
  expectArgs('cacheKey', { files }, 'array');
  const identity = files.map((file) => {
    const s = statSync(file);
    return { path: path.resolve(file), size: s.size, mtimeMs: s.mtimeMs };
  });
  return createHash('sha256')
    .update(JSON.stringify({ version: cacheFormatVersion, files: identity, options }))
    .digest('hex')
    .slice(0, 32);
}

interface CacheHeader {
  name: string;
  summary: DatasetSummary;
  loadReport?: LoadReport;
  interactions: number;
  users: number;
  strings: number;
  /** The dataset carries a given split: eight Int32Arrays of users + 1 follow the times. */
  split: boolean;
}

const align8 = (n: number) => Math.ceil(n / 8) * 8;

/**
 * Serialises a dataset: magic, header JSON, strings JSON, then offsets, items, times and, for a
 * dataset with a given split, its position arrays, each 8-byte aligned.
 */
export function serializeDataset(dataset: SequenceDataset): Buffer {
  expectArgs('serializeDataset', { dataset }, SequenceDataset);
  // The texts are stored only when they differ from the titles (the default).
  const texts = dataset.texts === dataset.titles ? null : dataset.texts;
  const strings = Buffer.from(
    JSON.stringify([dataset.userKeys, dataset.itemKeys, dataset.titles, dataset.descriptions, texts]),
    'utf8',
  );
  const header: CacheHeader = {
    name: dataset.name,
    summary: dataset.summary,
    interactions: dataset.items.length,
    users: dataset.numUsers,
    strings: strings.length,
    split: dataset.givenSplit !== undefined,
  };
  if (dataset.loadReport) header.loadReport = dataset.loadReport;
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const split = dataset.givenSplit;
  const arrays: ArrayBufferView[] = [
    dataset.offsets,
    dataset.items,
    dataset.times,
    ...(split ? splitPositionNames.map((name) => split[name]) : []),
  ];
  let at = align8(magic.length + 8 + headerBytes.length + strings.length);
  const starts = arrays.map((a) => {
    const start = at;
    at = align8(at + a.byteLength);
    return start;
  });
  const out = Buffer.alloc(at);
  magic.copy(out, 0);
  out.writeUInt32LE(headerBytes.length, magic.length);
  headerBytes.copy(out, magic.length + 8);
  strings.copy(out, magic.length + 8 + headerBytes.length);
  arrays.forEach((a, k) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).copy(out, starts[k]!));
  return out;
}

/** Reads back serializeDataset's bytes; throws naming `source` when they are not a cache. */
export function deserializeDataset(bytes: Buffer, source = '<buffer>'): SequenceDataset {
  expectArgs('deserializeDataset', { bytes }, Uint8Array);
  if (bytes.length < magic.length + 8 || !bytes.subarray(0, magic.length).equals(magic)) {
    throw new Error(`dataset cache: ${source} is not an llmrec dataset cache (version ${cacheFormatVersion})`);
  }
  const headerLength = bytes.readUInt32LE(magic.length);
  const headerAt = magic.length + 8;
  const header = JSON.parse(bytes.toString('utf8', headerAt, headerAt + headerLength)) as CacheHeader;
  const stringsAt = headerAt + headerLength;
  const [userKeys, itemKeys, titles, descriptions, texts] = JSON.parse(
    bytes.toString('utf8', stringsAt, stringsAt + header.strings),
  ) as [string[], string[], string[], string[], string[] | null];
  const n = header.interactions;
  const userSlots = header.users + 1;
  const sizes = [(header.users + 2) * 4, n * 4, n * 8, ...(header.split ? splitPositionNames.map(() => userSlots * 4) : [])];
  let at = align8(stringsAt + header.strings);
  const starts = sizes.map((size) => {
    const start = at;
    at = align8(at + size);
    return start;
  });
  if (bytes.length !== at) {
    throw new Error(`dataset cache: ${source} is truncated or damaged (${bytes.length} bytes, expected ${at})`);
  }
  // Copies, so the arrays are aligned whatever the Buffer's offset in its pool.
  const copy = (k: number) => new Uint8Array(bytes.buffer, bytes.byteOffset + starts[k]!, sizes[k]!).slice().buffer;
  const parts = {
    name: header.name,
    userKeys,
    itemKeys,
    offsets: new Int32Array(copy(0)),
    items: new Int32Array(copy(1)),
    times: new Float64Array(copy(2)),
    titles,
    descriptions,
    summary: header.summary,
    ...(texts ? { texts } : {}),
    ...(header.loadReport ? { loadReport: header.loadReport } : {}),
  };
  if (!header.split) return new SequenceDataset(parts);
  const givenSplit = Object.fromEntries(
    splitPositionNames.map((name, k) => [name, new Int32Array(copy(3 + k))]),
  ) as unknown as SplitPositions;
  return new SequenceDataset({ ...parts, givenSplit });
}

/** Writes atomically (temporary file, then rename), so a crash never leaves half a cache. */
export function writeDatasetCache(file: string, dataset: SequenceDataset): void {
  expectArgs('writeDatasetCache', { file }, 'string');
  expectArgs('writeDatasetCache', { dataset }, SequenceDataset);
  mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, serializeDataset(dataset));
  renameSync(temporary, file);
}

/** Reads a cache file, or undefined when there is none or it is unreadable/stale. */
export function readDatasetCache(file: string): SequenceDataset | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    return undefined;
  }
  try {
    return deserializeDataset(bytes, file);
  } catch {
    return undefined;
  }
}
