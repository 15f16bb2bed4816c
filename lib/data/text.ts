// Streaming text input for the loaders: bytes → (optionally decompressed) → lines with their
// numbers → CSV records. Everything below the file reader is synchronous and push-based, so the
// same parser runs on a stream (files larger than memory) and on an in-memory buffer (benchmarks).
import { spawn, execFileSync } from 'node:child_process';
import { createReadStream, readFileSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { expectArgs } from '../guard.js';

/**
 * Input that cannot be read as its format says, found while streaming (an id missing from its
 * index file, a duplicate key): thrown from a line handler, it stops the read at once and is
 * not mistaken for an I/O error.
 */
export class DataFormatError extends Error {}

/** A line longer than the splitter's limit: the file is binary or endless, a source error. */
export class LineTooLongError extends Error {}

/** One malformed input row, kept as an example in the load report. */
export interface MalformedRow {
  file: string;
  /** 1-based line number where the row starts. */
  line: number;
  reason: string;
  /** The start of the offending text (at most 120 characters). */
  text: string;
}

/**
 * What a load did: how many data rows were read, kept and dropped, and why. Cleaning drops
 * (cancellations, rows without a customer, ...) and malformed rows are counted separately;
 * malformed rows also keep their first examples with file and line number.
 */
export interface LoadReport {
  files: string[];
  rowsRead: number;
  rowsKept: number;
  /** Rows removed on purpose by cleaning rules, by reason. */
  dropped: Record<string, number>;
  /** Rows that could not be parsed, by reason. */
  malformed: Record<string, number>;
  malformedCount: number;
  /** The first malformed rows (up to `maxExamples`), with file and line. */
  examples: MalformedRow[];
  /**
   * Errors that ended a file early (truncated compressed stream, I/O error); only present when
   * the load was allowed to be partial, as a failing source otherwise fails the load.
   */
  sourceErrors: string[];
  /** Facts about the read worth a line of output (how files were matched, what was skipped). */
  notes?: string[];
}

export class LoadReportBuilder {
  readonly report: LoadReport = {
    files: [],
    rowsRead: 0,
    rowsKept: 0,
    dropped: {},
    malformed: {},
    malformedCount: 0,
    examples: [],
    sourceErrors: [],
    notes: [],
  };
  constructor(private readonly maxExamples = 20) {}

  note(text: string): void {
    (this.report.notes ??= []).push(text);
  }

  drop(reason: string): void {
    this.report.dropped[reason] = (this.report.dropped[reason] ?? 0) + 1;
  }

  malformed(file: string, line: number, reason: string, text: string): void {
    const r = this.report;
    r.malformed[reason] = (r.malformed[reason] ?? 0) + 1;
    r.malformedCount++;
    if (r.examples.length < this.maxExamples) r.examples.push({ file, line, reason, text: text.slice(0, 120) });
  }
}

/** Compression recognised by file extension: .gz, .br (zlib, built in) and .xz (the xz tool). */
function compressionOf(file: string): 'gzip' | 'brotli' | 'xz' | 'none' {
  if (file.endsWith('.gz')) return 'gzip';
  if (file.endsWith('.br')) return 'brotli';
  if (file.endsWith('.xz')) return 'xz';
  return 'none';
}

/** The file name without its compression suffix, to decide the format (.csv, .jsonl, .inter ...). */
export function stripCompression(file: string): string {
  expectArgs('stripCompression', { file }, 'string');
  return compressionOf(file) === 'none' ? file : file.slice(0, file.lastIndexOf('.'));
}

/** Reads and decompresses a whole file synchronously (benchmarks and small files). */
export function readDecompressedSync(file: string): Buffer {
  expectArgs('readDecompressedSync', { file }, 'string');
  switch (compressionOf(file)) {
    case 'gzip':
      return zlib.gunzipSync(readFileSync(file));
    case 'brotli':
      return zlib.brotliDecompressSync(readFileSync(file));
    case 'xz':
      return execFileSync('xz', ['-dc', file], { maxBuffer: 1 << 30 });
    case 'none':
      return readFileSync(file);
  }
}

interface OpenedSource {
  stream: Readable;
  /** Resolves after the stream ends, with the decompressor's error if it failed. */
  done: Promise<string | undefined>;
  /** Stops reading early. */
  cancel(): void;
}

function openStream(file: string): OpenedSource {
  const kind = compressionOf(file);
  if (kind === 'xz') {
    const child = spawn('xz', ['-dc', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const done = new Promise<string | undefined>((resolve) => {
      child.on('error', (e) => resolve(`cannot run xz to read ${file}: ${e.message}`));
      child.on('close', (code) => resolve(code === 0 ? undefined : `xz -dc ${file}: ${stderr.trim() || `exit ${code}`}`));
    });
    return { stream: child.stdout, done, cancel: () => child.kill() };
  }
  const raw = createReadStream(file, { highWaterMark: 1 << 20 });
  if (kind === 'none') return { stream: raw, done: Promise.resolve(undefined), cancel: () => raw.destroy() };
  const inflate = kind === 'gzip' ? zlib.createGunzip() : zlib.createBrotliDecompress();
  raw.on('error', (e) => inflate.destroy(e));
  const cancel = () => {
    raw.destroy();
    inflate.destroy();
  };
  return { stream: raw.pipe(inflate), done: Promise.resolve(undefined), cancel };
}

/** Up to `bytes` bytes from the start of a (possibly compressed) file; empty if unreadable. */
export async function readHead(file: string, bytes: number): Promise<Buffer> {
  const { stream, cancel } = openStream(file);
  const parts: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of stream) {
      parts.push(chunk as Buffer);
      total += (chunk as Buffer).length;
      if (total >= bytes) break;
    }
  } catch {
    // A short or unreadable head is reported by the full load, not here.
  } finally {
    cancel();
  }
  return Buffer.concat(parts).subarray(0, bytes);
}

export type LineHandler = (text: string, line: number) => void;

/** The longest line a loader accepts (64 MiB): a longer one means the file is not line-oriented text. */
export const defaultMaxLineBytes = 64 * 2 ** 20;

/**
 * Splits bytes into lines (LF or CRLF), numbering them from 1. A line that is not valid UTF-8
 * goes to `onInvalid` instead of being decoded with replacement characters. A line longer than
 * `maxLineBytes` throws: an endless or binary file (a link to /dev/zero) must not be buffered
 * without bound.
 */
export class LineSplitter {
  // The unfinished last line, as chunks, so that a long line costs one copy, not one per chunk.
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private lineNo = 0;

  constructor(
    private readonly onLine: LineHandler,
    private readonly onInvalid: (line: number, bytes: Buffer) => void,
    private readonly maxLineBytes = defaultMaxLineBytes,
  ) {}

  /** Lines emitted so far. */
  get lines(): number {
    return this.lineNo;
  }

  push(chunk: Buffer): void {
    const last = chunk.lastIndexOf(10);
    if (last < 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.pendingBytes > this.maxLineBytes) {
        throw new LineTooLongError(
          `line ${this.lineNo + 1} is longer than ${this.maxLineBytes / 2 ** 20} MiB without a line break; ` +
            'this is not a line-oriented text file (binary, or endless like /dev/zero)',
        );
      }
      return;
    }
    const head = chunk.subarray(0, last + 1);
    const body = this.pendingBytes > 0 ? Buffer.concat([...this.pending, head]) : head;
    this.pending = last + 1 < chunk.length ? [chunk.subarray(last + 1)] : [];
    this.pendingBytes = chunk.length - last - 1;
    // The common case decodes the whole chunk at once; only a chunk holding invalid UTF-8 is
    // walked line by line, so that just the offending lines are rejected.
    if (isUtf8(body)) this.emitText(body.toString('utf8'));
    else this.emitBytes(body);
  }

  end(): void {
    const rest = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    if (rest.length > 0) {
      const line = Buffer.concat([...rest, Buffer.from('\n')]);
      if (isUtf8(line)) this.emitText(line.toString('utf8'));
      else this.emitBytes(line);
    }
  }

  /** Drops an unfinished last line (the input ended in error, so the line is cut). */
  discard(): void {
    this.pending = [];
    this.pendingBytes = 0;
  }

  private emitText(text: string): void {
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) return;
      const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      this.onLine(text.slice(start, end), ++this.lineNo);
      start = nl + 1;
    }
  }

  private emitBytes(bytes: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = bytes.indexOf(10, start);
      if (nl < 0) return;
      const line = bytes.subarray(start, nl > start && bytes[nl - 1] === 13 ? nl - 1 : nl);
      if (isUtf8(line)) this.onLine(line.toString('utf8'), ++this.lineNo);
      else this.onInvalid(++this.lineNo, line);
      start = nl + 1;
    }
  }
}

/** Progress callback: bytes of (decompressed) input consumed so far. */
export type ProgressHandler = (bytes: number) => void;

/**
 * Streams `file` through a LineSplitter. A read or decompression error (a truncated .gz, a
 * missing file, a line without end) does not throw: it is returned, after every complete line
 * before it was emitted; the cut line after them is dropped.
 */
export async function streamLines(
  file: string,
  splitter: LineSplitter,
  onProgress?: ProgressHandler,
): Promise<string | undefined> {
  let opened: OpenedSource;
  try {
    opened = openStream(file);
  } catch (e) {
    return `cannot open ${file}: ${(e as Error).message}`;
  }
  let bytes = 0;
  let error: string | undefined;
  try {
    for await (const chunk of opened.stream) {
      splitter.push(chunk as Buffer);
      bytes += (chunk as Buffer).length;
      onProgress?.(bytes);
    }
  } catch (e) {
    opened.cancel();
    // The stream's errors (I/O, decompression) and an endless line are source errors; anything
    // else came from a line handler: a refusal (DataFormatError) or a bug, thrown as it is.
    if (!(e instanceof LineTooLongError) && !isStreamError(e)) throw e;
    error = `${file}: ${(e as Error).message}`;
  }
  if (error) {
    splitter.discard();
    return error;
  }
  splitter.end();
  return opened.done;
}

/** An error raised by a file or decompression stream (it carries a Node error code). */
function isStreamError(e: unknown): boolean {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string';
}

/** Splits one CSV/TSV line into fields. Returns undefined while a quoted field is still open. */
export function splitDelimited(text: string, separator: string): string[] | undefined {
  if (text.indexOf('"') < 0) return text.split(separator);
  const fields: string[] = [];
  const sep = separator.charCodeAt(0);
  let field = '';
  let i = 0;
  const n = text.length;
  for (;;) {
    if (text.charCodeAt(i) === 34) {
      // Quoted field: "" is an escaped quote; anything after the closing quote up to the
      // separator is kept, as spreadsheet exports sometimes leave stray spaces there.
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) return undefined;
        field += text.slice(i, q);
        if (text.charCodeAt(q + 1) === 34) {
          field += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      const next = text.indexOf(separator, i);
      const stop = next < 0 ? n : next;
      field += text.slice(i, stop);
      i = stop;
    } else {
      const next = text.indexOf(separator, i);
      const stop = next < 0 ? n : next;
      field = text.slice(i, stop);
      i = stop;
    }
    fields.push(field);
    field = '';
    if (i >= n) return fields;
    if (text.charCodeAt(i) === sep) i++;
    if (i === n) {
      fields.push('');
      return fields;
    }
  }
}

/**
 * Assembles CSV records from lines: a quoted field may span lines. A record still open after
 * `maxRecordLines` lines, or at the end of the input, is a stray or truncated quote: its first
 * line is reported as malformed and the lines after it are parsed again on their own, so one bad
 * quote costs one row, not the rows that follow it.
 */
export class DelimitedRecordReader {
  private open: { text: string; line: number }[] = [];
  /**
   * The header's field count, once known: a multi-line record with another count is taken as a
   * stray quote that swallowed the next line, and is abandoned like an unterminated one.
   */
  expectedFields: number | undefined;

  constructor(
    private readonly separator: string,
    private readonly onRecord: (fields: string[], line: number, text: string) => void,
    private readonly onMalformed: (line: number, reason: string, text: string) => void,
    private readonly maxRecordLines = 64,
  ) {}

  line(text: string, line: number): void {
    if (this.open.length === 0) {
      if (text === '') return;
      const fields = splitDelimited(text, this.separator);
      if (fields) this.onRecord(fields, line, text);
      else this.open.push({ text, line });
      return;
    }
    this.open.push({ text, line });
    const joined = this.open.map((l) => l.text).join('\n');
    const fields = splitDelimited(joined, this.separator);
    if (fields && (this.expectedFields === undefined || fields.length === this.expectedFields)) {
      const start = this.open[0]!.line;
      this.open = [];
      this.onRecord(fields, start, joined);
    } else if (fields) {
      this.abandon('unbalanced quote');
    } else if (this.open.length >= this.maxRecordLines) {
      this.abandon('unterminated quoted field');
    }
  }

  end(): void {
    while (this.open.length > 0) this.abandon('unterminated quoted field at end of file');
  }

  private abandon(reason: string): void {
    const [first, ...rest] = this.open;
    this.open = [];
    this.onMalformed(first!.line, reason, first!.text);
    for (const l of rest) this.line(l.text, l.line);
  }
}
