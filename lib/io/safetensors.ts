// The safetensors format (huggingface/safetensors): an 8-byte little-endian header length, a
// JSON header mapping names to { dtype, shape, data_offsets } plus optional "__metadata__"
// strings, padded with spaces to 8 bytes, then the tensors' bytes packed with no holes.
// Files written here load with Python's safetensors; files from transformers load here,
// including F16/F64/I64 tensors, which are converted to llmrec's dtypes.
import * as fs from 'node:fs';

import { noGrad } from '../autograd.js';
import type { DType, HostArray } from '../binding.js';
import { Tensor, tensor } from '../tensor.js';
import { writeFileAtomic, writeFileAtomicSync } from './atomic.js';
import { expectArgs } from '../guard.js';

export type SafetensorsDType = 'F32' | 'BF16' | 'F16' | 'F64' | 'I32' | 'I64' | 'I16' | 'I8' | 'U8' | 'BOOL';

const BYTES: Record<SafetensorsDType, number> = {
  F32: 4,
  BF16: 2,
  F16: 2,
  F64: 8,
  I32: 4,
  I64: 8,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};
const FROM_DTYPE: Record<DType, SafetensorsDType> = { f32: 'F32', bf16: 'BF16', i32: 'I32' };
/** Python's safetensors refuses headers above this size; so do we, before allocating them. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  dtype: SafetensorsDType;
  shape: number[];
  /** Byte range within the data section, [begin, end). */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
  /** Absolute file offset of the data section. */
  dataStart: number;
}

export interface ReadOptions {
  /** Where the tensors go (default: the default device). */
  device?: string;
  /** Convert floating tensors to this dtype (integers stay i32). */
  dtype?: 'f32' | 'bf16';
}

function corrupt(source: string, what: string): Error {
  return new Error(`safetensors: ${source} is not a valid safetensors file: ${what}`);
}

/** Validates a header against the file size; every offset is checked before anything is read. */
export function parseHeader(prefix: Uint8Array, fileSize: number, source: string): { headerBytes: number } {
  expectArgs('parseHeader', { prefix }, Uint8Array);
  expectArgs('parseHeader', { fileSize }, 'integer');
  expectArgs('parseHeader', { source }, 'string');
  if (fileSize < 8) throw corrupt(source, `it has ${fileSize} bytes, fewer than the 8-byte header length`);
  const headerBytes = Number(new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true));
  if (headerBytes > MAX_HEADER_BYTES)
    throw corrupt(source, `the header claims ${headerBytes} bytes, above the ${MAX_HEADER_BYTES}-byte limit`);
  if (8 + headerBytes > fileSize)
    throw corrupt(
      source,
      `the header claims ${headerBytes} bytes but the file has only ${fileSize - 8} after the length (truncated?)`,
    );
  return { headerBytes };
}

function decodeHeader(json: Uint8Array, fileSize: number, source: string): SafetensorsHeader {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (error) {
    throw corrupt(source, `the header is not UTF-8 JSON (${(error as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw corrupt(source, 'the header is not a JSON object');
  const dataStart = 8 + json.byteLength;
  const dataBytes = fileSize - dataStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Object.values(raw).some((v) => typeof v !== 'string'))
        throw corrupt(source, '"__metadata__" must map strings to strings');
      metadata = raw as Record<string, string>;
      continue;
    }
    const entry = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof entry?.dtype !== 'string' || !(entry.dtype in BYTES))
      throw corrupt(
        source,
        `tensor '${name}' has dtype ${JSON.stringify(entry?.dtype)}; supported: ${Object.keys(BYTES).join(', ')}`,
      );
    const shape = entry.shape;
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0))
      throw corrupt(source, `tensor '${name}' has shape ${JSON.stringify(shape)}; expected non-negative integers`);
    const offsets = entry.data_offsets;
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      offsets.some((o) => !Number.isSafeInteger(o) || o < 0) ||
      offsets[0] > offsets[1]
    )
      throw corrupt(source, `tensor '${name}' has data_offsets ${JSON.stringify(offsets)}`);
    const dtype = entry.dtype as SafetensorsDType;
    const expected = (shape as number[]).reduce((a, b) => a * b, 1) * BYTES[dtype];
    const [begin, end] = offsets as [number, number];
    if (end - begin !== expected)
      throw corrupt(
        source,
        `tensor '${name}' (${dtype}[${shape.join(', ')}]) needs ${expected} bytes but its offsets span ${end - begin}`,
      );
    if (end > dataBytes)
      throw corrupt(source, `tensor '${name}' ends at byte ${end} of a ${dataBytes}-byte data section (truncated?)`);
    tensors.set(name, { dtype, shape: shape as number[], dataOffsets: [begin, end] });
  }
  // The data section must be covered exactly once, as Python's safetensors requires.
  const ranges = [...tensors.entries()].sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0]);
  let cursor = 0;
  for (const [name, info] of ranges) {
    if (info.dataOffsets[0] !== cursor)
      throw corrupt(
        source,
        `tensor '${name}' starts at byte ${info.dataOffsets[0]}, expected ${cursor} (overlap or hole)`,
      );
    cursor = info.dataOffsets[1];
  }
  if (cursor !== dataBytes)
    throw corrupt(source, `the tensors cover ${cursor} bytes of a ${dataBytes}-byte data section`);
  return { tensors, metadata, dataStart };
}

/** Converts the raw little-endian bytes of one tensor to what llmrec tensors hold. */
function toHost(bytes: Uint8Array, info: TensorInfo, name: string, source: string): { host: HostArray; dtype: DType } {
  // Copy into an aligned buffer: tensors in the file start at arbitrary byte offsets.
  const aligned = new Uint8Array(bytes.byteLength);
  aligned.set(bytes);
  const buf = aligned.buffer;
  const count = info.shape.reduce((a, b) => a * b, 1);
  switch (info.dtype) {
    case 'F32':
      return { host: new Float32Array(buf, 0, count), dtype: 'f32' };
    case 'BF16':
      return { host: new Uint16Array(buf, 0, count), dtype: 'bf16' };
    case 'I32':
      return { host: new Int32Array(buf, 0, count), dtype: 'i32' };
    case 'F64':
      return { host: Float32Array.from(new Float64Array(buf, 0, count)), dtype: 'f32' };
    case 'F16': {
      const half = new Uint16Array(buf, 0, count);
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = halfToFloat(half[i]!);
      return { host: out, dtype: 'f32' };
    }
    case 'I64': {
      const wide = new BigInt64Array(buf, 0, count);
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const v = wide[i]!;
        if (v > 2147483647n || v < -2147483648n)
          throw new Error(
            `safetensors: ${source}: tensor '${name}' (I64) holds ${v} at element ${i}, outside i32's range`,
          );
        out[i] = Number(v);
      }
      return { host: out, dtype: 'i32' };
    }
    case 'I16':
      return { host: Int32Array.from(new Int16Array(buf, 0, count)), dtype: 'i32' };
    case 'I8':
      return { host: Int32Array.from(new Int8Array(buf, 0, count)), dtype: 'i32' };
    case 'U8':
    case 'BOOL':
      return { host: Int32Array.from(new Uint8Array(buf, 0, count)), dtype: 'i32' };
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

function makeTensor(bytes: Uint8Array, info: TensorInfo, name: string, source: string, options: ReadOptions): Tensor {
  const { host, dtype } = toHost(bytes, info, name, source);
  const made = tensor(host, { shape: info.shape, dtype, device: options.device });
  if (options.dtype && dtype !== 'i32' && dtype !== options.dtype) {
    const cast = noGrad(() => made.cast(options.dtype!));
    made.dispose();
    return cast;
  }
  return made;
}

/** An open safetensors file: its validated header, and tensors read one at a time on demand. */
export class SafetensorsFile {
  private constructor(
    readonly path: string,
    readonly header: SafetensorsHeader,
    private readonly fd: number,
  ) {}

  /** Opens and validates `path`; nothing but the header is read. */
  static open(path: string): SafetensorsFile {
    expectArgs('SafetensorsFile.open', { path }, 'string');
    const fd = fs.openSync(path, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const prefix = new Uint8Array(8);
      fs.readSync(fd, prefix, 0, Math.min(8, size), 0);
      const { headerBytes } = parseHeader(prefix, size, path);
      const json = new Uint8Array(headerBytes);
      fs.readSync(fd, json, 0, headerBytes, 8);
      return new SafetensorsFile(path, decodeHeader(json, size, path), fd);
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  /** Tensor names in file order. */
  get names(): string[] {
    return [...this.header.tensors.keys()];
  }

  info(name: string): TensorInfo {
    const info = this.header.tensors.get(name);
    if (!info) throw new Error(`safetensors: ${this.path} has no tensor '${name}'`);
    return info;
  }

  /** Reads one tensor into a new llmrec tensor. */
  read(name: string, options: ReadOptions = {}): Tensor {
    const info = this.info(name);
    const [begin, end] = info.dataOffsets;
    const bytes = new Uint8Array(end - begin);
    let got = 0;
    while (got < bytes.byteLength) {
      const n = fs.readSync(this.fd, bytes, got, bytes.byteLength - got, this.header.dataStart + begin + got);
      if (n === 0) throw corrupt(this.path, `tensor '${name}' is cut short (the file shrank while reading?)`);
      got += n;
    }
    return makeTensor(bytes, info, name, this.path, options);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** Reads every tensor (or the named ones) of a safetensors file. */
export function loadSafetensors(
  path: string,
  options: ReadOptions & { names?: readonly string[] } = {},
): Map<string, Tensor> {
  expectArgs('loadSafetensors', { path }, 'string');
  const file = SafetensorsFile.open(path);
  const out = new Map<string, Tensor>();
  try {
    for (const name of options.names ?? file.names) out.set(name, file.read(name, options));
    return out;
  } catch (error) {
    for (const t of out.values()) t.dispose();
    throw error;
  } finally {
    file.close();
  }
}

/** The metadata strings of a safetensors file, without reading its tensors. */
export function readSafetensorsMetadata(path: string): Record<string, string> {
  expectArgs('readSafetensorsMetadata', { path }, 'string');
  const file = SafetensorsFile.open(path);
  file.close();
  return file.header.metadata;
}

type NamedTensors = Map<string, Tensor> | Record<string, Tensor>;

function encode(tensors: NamedTensors, metadata: Record<string, string>, hosts: HostArray[]): Uint8Array[] {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata))
      if (typeof v !== 'string') throw new Error(`saveSafetensors: metadata '${k}' must be a string, got ${typeof v}`);
    header.__metadata__ = metadata;
  }
  let offset = 0;
  entries.forEach(([name, t], i) => {
    if (name === '__metadata__')
      throw new Error(`saveSafetensors: '__metadata__' is reserved and cannot name a tensor`);
    const bytes = hosts[i]!.byteLength;
    header[name] = { dtype: FROM_DTYPE[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  });
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf-8');
  const length = new Uint8Array(8);
  new DataView(length.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  return [length, headerBytes, ...hosts.map((h) => new Uint8Array(h.buffer, h.byteOffset, h.byteLength))];
}

function tensorsOf(tensors: NamedTensors): Tensor[] {
  const list = tensors instanceof Map ? [...tensors.values()] : Object.values(tensors);
  for (const t of list) if (!(t instanceof Tensor)) throw new Error('saveSafetensors: every value must be a Tensor');
  return list;
}

/** Writes tensors atomically (temporary file, then rename); reads device tensors off the main thread. */
export async function saveSafetensors(
  path: string,
  tensors: NamedTensors,
  metadata: Record<string, string> = {},
): Promise<void> {
  expectArgs('saveSafetensors', { path }, 'string');
  expectArgs('saveSafetensors', { tensors }, 'object');
  expectArgs('saveSafetensors', { metadata }, 'object');
  const hosts = await Promise.all(tensorsOf(tensors).map((t) => t.native.data(true)));
  await writeFileAtomic(path, encode(tensors, metadata, hosts));
}

/** saveSafetensors, blocking. */
export function saveSafetensorsSync(path: string, tensors: NamedTensors, metadata: Record<string, string> = {}): void {
  expectArgs('saveSafetensorsSync', { path }, 'string');
  expectArgs('saveSafetensorsSync', { tensors }, 'object');
  expectArgs('saveSafetensorsSync', { metadata }, 'object');
  const hosts = tensorsOf(tensors).map((t) => t.native.dataSync(true));
  writeFileAtomicSync(path, encode(tensors, metadata, hosts));
}
