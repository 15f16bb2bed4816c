// The binary dataset cache: a prepared dataset is written once and read back with a few memcpys
// and one JSON.parse, keyed by the source files (path, size, mtime) and every option that
// changes the result, so a changed file or option never returns a stale dataset.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SequenceDataset, type DatasetSummary } from './dataset.js';
import type { LoadReport } from './text.js';

const magic = Buffer.from('LLMRDS\u0000\u0002', 'latin1');
/** Bump when the layout or the preprocessing changes, so older caches miss. */
export const cacheFormatVersion = 2;

/** Where caches go: $LLMREC_CACHE_DIR, else ~/.cache/llmrec/datasets. */
export function defaultCacheDir(): string {
  return process.env.LLMREC_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'llmrec', 'datasets');
}

/** The cache key of a dataset built from `files` with `options` (any JSON-serialisable value). */
export function cacheKey(files: string[], options: unknown): string {
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
}

const align8 = (n: number) => (n + 7) & ~7;

/** Serialises a dataset: magic, header JSON, strings JSON, then offsets, items and times. */
export function serializeDataset(dataset: SequenceDataset): Buffer {
  const strings = Buffer.from(
    JSON.stringify([dataset.userKeys, dataset.itemKeys, dataset.titles, dataset.descriptions]),
    'utf8',
  );
  const header: CacheHeader = {
    name: dataset.name,
    summary: dataset.summary,
    interactions: dataset.items.length,
    users: dataset.numUsers,
    strings: strings.length,
  };
  if (dataset.loadReport) header.loadReport = dataset.loadReport;
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const arraysAt = align8(magic.length + 8 + headerBytes.length + strings.length);
  const offsetsBytes = dataset.offsets.byteLength;
  const itemsAt = arraysAt + align8(offsetsBytes);
  const timesAt = itemsAt + align8(dataset.items.byteLength);
  const out = Buffer.alloc(timesAt + dataset.times.byteLength);
  magic.copy(out, 0);
  out.writeUInt32LE(headerBytes.length, magic.length);
  headerBytes.copy(out, magic.length + 8);
  strings.copy(out, magic.length + 8 + headerBytes.length);
  Buffer.from(dataset.offsets.buffer, dataset.offsets.byteOffset, offsetsBytes).copy(out, arraysAt);
  Buffer.from(dataset.items.buffer, dataset.items.byteOffset, dataset.items.byteLength).copy(out, itemsAt);
  Buffer.from(dataset.times.buffer, dataset.times.byteOffset, dataset.times.byteLength).copy(out, timesAt);
  return out;
}

/** Reads back serializeDataset's bytes; throws naming `source` when they are not a cache. */
export function deserializeDataset(bytes: Buffer, source = '<buffer>'): SequenceDataset {
  if (bytes.length < magic.length + 8 || !bytes.subarray(0, magic.length).equals(magic)) {
    throw new Error(`dataset cache: ${source} is not an llmrec dataset cache (version ${cacheFormatVersion})`);
  }
  const headerLength = bytes.readUInt32LE(magic.length);
  const headerAt = magic.length + 8;
  const header = JSON.parse(bytes.toString('utf8', headerAt, headerAt + headerLength)) as CacheHeader;
  const stringsAt = headerAt + headerLength;
  const [userKeys, itemKeys, titles, descriptions] = JSON.parse(
    bytes.toString('utf8', stringsAt, stringsAt + header.strings),
  ) as [string[], string[], string[], string[]];
  const arraysAt = align8(stringsAt + header.strings);
  const offsetsBytes = (header.users + 2) * 4;
  const itemsAt = arraysAt + align8(offsetsBytes);
  const timesAt = itemsAt + align8(header.interactions * 4);
  if (bytes.length !== timesAt + header.interactions * 8) {
    throw new Error(`dataset cache: ${source} is truncated (${bytes.length} bytes, expected ${timesAt + header.interactions * 8})`);
  }
  // Copies, so the arrays are aligned whatever the Buffer's offset in its pool.
  const copy = (at: number, length: number) => new Uint8Array(bytes.buffer, bytes.byteOffset + at, length).slice().buffer;
  const parts = {
    name: header.name,
    userKeys,
    itemKeys,
    offsets: new Int32Array(copy(arraysAt, offsetsBytes)),
    items: new Int32Array(copy(itemsAt, header.interactions * 4)),
    times: new Float64Array(copy(timesAt, header.interactions * 8)),
    titles,
    descriptions,
    summary: header.summary,
  };
  return new SequenceDataset(header.loadReport ? { ...parts, loadReport: header.loadReport } : parts);
}

/** Writes atomically (temporary file, then rename), so a crash never leaves half a cache. */
export function writeDatasetCache(file: string, dataset: SequenceDataset): void {
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
