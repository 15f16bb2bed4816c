// What every loader shares: running a line parser over a file (streamed, any compression),
// turning a source error into a refusal (or, when asked, a prominent report), and the small
// line parsers for JSON lines, Python-literal lines and RecBole's tab-separated atomic files.
import { existsSync, statSync } from 'node:fs';
import { parsePythonLiteral, PythonLiteralError } from './pyliteral.js';
import { defaultMaxLineBytes, LineSplitter, streamLines, type LineHandler, type LoadReportBuilder } from './text.js';

export interface LoadOptions {
  /** Called as input is consumed: the file and its (decompressed) bytes so far. */
  onProgress?: (file: string, bytes: number) => void;
  /** How many malformed rows to keep as examples in the report (default 20). */
  maxExamples?: number;
  /**
   * Keep the rows read before a source error (a truncated .gz, an I/O error) instead of failing;
   * the error is then in report.sourceErrors. Default false: a source error fails the load.
   */
  allowPartial?: boolean;
  /**
   * Drop interactions rated below this (A-LLMRec keeps ratings ≥ 4 in some setups). A source
   * without ratings refuses it.
   */
  minRating?: number;
  /** The longest line accepted (default 64 MiB); a longer one ends the file as a source error. */
  maxLineBytes?: number;
}

export interface FileParser {
  line: LineHandler;
  end(): void;
  /** Set when the file cannot be used at all; the load throws it after reading. */
  fatal?: string;
}

export interface ParseFileOptions {
  /**
   * Lines that are not UTF-8 are read as Latin-1 instead of being reported as malformed (the
   * MovieLens 1M and 100k files are Latin-1).
   */
  latin1Fallback?: boolean;
}

/**
 * Streams `file` through `parser`. A source error (unreadable, truncated, a line without end)
 * throws an Error naming the file, unless options.allowPartial, which records it in the report.
 */
export async function parseFile(
  file: string,
  parser: FileParser,
  reports: LoadReportBuilder,
  options: LoadOptions,
  parse: ParseFileOptions = {},
): Promise<void> {
  if (!existsSync(file)) throw new Error(`data: no such file: ${file}`);
  if (statSync(file).isDirectory()) throw new Error(`data: ${file} is a folder where a file was expected`);
  reports.report.files.push(file);
  let textLines = 0;
  const splitter = new LineSplitter(
    (text, line) => {
      if (text !== '') textLines++;
      parser.line(text, line);
    },
    (line, bytes) =>
      parse.latin1Fallback
        ? parser.line(bytes.toString('latin1'), line)
        : reports.malformed(file, line, 'invalid UTF-8', bytes.toString('latin1')),
    options.maxLineBytes ?? defaultMaxLineBytes,
  );
  const error = await streamLines(file, splitter, options.onProgress && ((b) => options.onProgress!(file, b)));
  if (error) {
    if (!options.allowPartial) {
      throw new Error(
        `data: ${file} could not be read to the end (${error}); nothing was loaded. ` +
          `A truncated download or a damaged file: fetch it again, or pass --allow-partial (allowPartial: true) ` +
          `to use the ${splitter.lines.toLocaleString('en-US')} lines read before the error`,
      );
    }
    reports.report.sourceErrors.push(error);
  }
  // Not one non-blank line was text: binary data, or a compressed file under a plain name. Said so here,
  // rather than as the parser's "is empty (no header)", which would send the user looking for a
  // missing header in a file that has bytes.
  if (textLines === 0 && splitter.lines > 0 && !parse.latin1Fallback)
    throw new Error(
      `data: ${file} is not text: none of its ${splitter.lines.toLocaleString('en-US')} lines is valid UTF-8 ` +
        `(binary data, or a compressed file without its .gz/.br/.xz extension?)`,
    );
  parser.end();
  if (parser.fatal) throw new Error(parser.fatal);
}

/** Counts a malformed data row in both the read total and the malformed tally. */
export function malformedRow(reports: LoadReportBuilder, file: string) {
  return (line: number, reason: string, text: string) => {
    reports.report.rowsRead++;
    reports.malformed(file, line, reason, text);
  };
}

export function columnIndex(header: readonly string[], names: readonly string[]): number {
  for (const name of names) {
    const i = header.indexOf(name);
    if (i >= 0) return i;
  }
  return -1;
}

/** Checks a minimum rating option; returns it, or undefined when none was given. */
export function checkMinRating(options: LoadOptions, loader: string, hasRatings: boolean): number | undefined {
  const min = options.minRating;
  if (min === undefined) return undefined;
  if (!Number.isFinite(min)) throw new RangeError(`${loader}: minRating must be a finite number, got ${min}`);
  if (!hasRatings) {
    throw new Error(`${loader}: this source has no ratings, so a minimum rating (--min-rating ${min}) cannot apply`);
  }
  return min;
}

/** A rating field, or NaN. */
export function ratingOf(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '') return Number(value);
  return NaN;
}

/**
 * Applies a minimum rating to one row: true when the row is kept. A row whose rating cannot be
 * read is malformed (it cannot be filtered honestly).
 */
export function passesRating(
  reports: LoadReportBuilder,
  min: number | undefined,
  rating: number,
  file: string,
  line: number,
  text: string,
): boolean {
  if (min === undefined) return true;
  if (!Number.isFinite(rating)) {
    reports.malformed(file, line, 'bad rating', text);
    return false;
  }
  if (rating < min) {
    reports.drop(`rating below ${min}`);
    return false;
  }
  return true;
}

/**
 * One object per line: JSON, or with `pythonLiterals` also a Python dict literal (the Amazon
 * 2014 metadata), parsed without evaluation. Blank lines are skipped; others are malformed rows.
 */
export function objectLineParser(
  file: string,
  reports: LoadReportBuilder,
  onObject: (o: Record<string, unknown>, line: number, text: string) => void,
  pythonLiterals = false,
): FileParser {
  return {
    line: (text, line) => {
      if (text.trim() === '') return;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        if (!pythonLiterals) return malformedRow(reports, file)(line, 'invalid JSON', text);
        try {
          value = parsePythonLiteral(text);
        } catch (e) {
          // The reason without the column, so that malformed rows group by kind in the report.
          const why = e instanceof PythonLiteralError ? e.message.replace(/ at column \d+$/, '') : String(e);
          return malformedRow(reports, file)(line, `neither JSON nor a Python literal: ${why}`, text);
        }
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        return malformedRow(reports, file)(line, pythonLiterals ? 'not a dict' : 'not a JSON object', text);
      }
      onObject(value as Record<string, unknown>, line, text);
    },
    end: () => {},
  };
}

/** A field as text: strings trimmed, lists of strings joined by `separator`, numbers as written. */
export function textOf(value: unknown, separator = ' '): string {
  if (typeof value === 'string') return value.trim();
  if (Array.isArray(value)) {
    return value
      .flat(2)
      .filter((v): v is string => typeof v === 'string' && v.trim() !== '')
      .map((v) => v.trim())
      .join(separator)
      .trim();
  }
  if (typeof value === 'number') return String(value);
  return '';
}

/** A RecBole header field: its name and its declared type (token, token_seq, float, float_seq). */
export interface RecBoleColumn {
  name: string;
  type: string;
}

/**
 * RecBole atomic files: tab-separated, the first line a header of `name:type` fields. RecBole
 * does not quote, so a tab split is exact and titles keep their quotes.
 */
export function tabParser(
  file: string,
  reports: LoadReportBuilder,
  onHeader: (header: RecBoleColumn[]) => string | undefined,
  onRow: (fields: string[], line: number, text: string) => void,
): FileParser {
  let width = -1;
  const parser: FileParser = {
    line: (text, line) => {
      if (parser.fatal !== undefined || text === '') return;
      const fields = text.split('\t');
      if (width < 0) {
        width = fields.length;
        const header = fields.map((f) => {
          const m = /^(.*?)(?::([a-z_]+))?$/.exec(f.trim())!;
          return { name: m[1]!, type: m[2] ?? '' };
        });
        const error = onHeader(header);
        if (error) parser.fatal = error;
        return;
      }
      if (fields.length !== width) return malformedRow(reports, file)(line, `expected ${width} fields, got ${fields.length}`, text);
      onRow(fields, line, text);
    },
    end: () => {
      if (width < 0 && parser.fatal === undefined) parser.fatal = `recbole loader: ${file} is empty (no header)`;
    },
  };
  return parser;
}
