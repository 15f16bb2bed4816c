// Loaders for the supported sources. Each turns one or more files into an InteractionLog and a
// LoadReport; a malformed row is counted with its file and line and never stops the load. Only a
// file that cannot be used at all (missing columns, empty) raises an Error naming the loader,
// the file and what was expected.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { InteractionLogBuilder, parseDateTime, parseTime, type InteractionLog, type TimeFormat } from './log.js';
import {
  DelimitedRecordReader,
  LineSplitter,
  LoadReportBuilder,
  readHead,
  streamLines,
  stripCompression,
  type LineHandler,
} from './text.js';

export interface LoadOptions {
  /** Called as input is consumed: the file and its (decompressed) bytes so far. */
  onProgress?: (file: string, bytes: number) => void;
  /** How many malformed rows to keep as examples in the report (default 20). */
  maxExamples?: number;
}

interface FileParser {
  line: LineHandler;
  end(): void;
  /** Set when the file cannot be used at all; the load throws it after reading. */
  fatal?: string;
}

async function parseFile(
  file: string,
  parser: FileParser,
  reports: LoadReportBuilder,
  options: LoadOptions,
  source?: Buffer,
): Promise<void> {
  if (!source && !existsSync(file)) throw new Error(`data: no such file: ${file}`);
  reports.report.files.push(file);
  const splitter = new LineSplitter(parser.line, (line, bytes) =>
    reports.malformed(file, line, 'invalid UTF-8', bytes.toString('latin1')),
  );
  if (source) {
    splitter.push(source);
    splitter.end();
  } else {
    const error = await streamLines(file, splitter, options.onProgress && ((b) => options.onProgress!(file, b)));
    if (error) reports.report.sourceErrors.push(error);
  }
  parser.end();
  if (parser.fatal) throw new Error(parser.fatal);
}

/** Counts a malformed data row in both the read total and the malformed tally. */
function malformedRow(reports: LoadReportBuilder, file: string) {
  return (line: number, reason: string, text: string) => {
    reports.report.rowsRead++;
    reports.malformed(file, line, reason, text);
  };
}

function columnIndex(header: string[], names: readonly string[]): number {
  for (const name of names) {
    const i = header.indexOf(name);
    if (i >= 0) return i;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// Online Retail (UCI 352) and Online Retail II (UCI 502)

/** Stock codes that are services or adjustments, not products (case-insensitive). */
const nonProductCodes = new Set(['POST', 'DOT', 'M', 'C2', 'D', 'S', 'B', 'CRUK', 'PADS', 'AMAZONFEE', 'BANK CHARGES']);
const nonProductPrefixes = ['GIFT_', 'TEST', 'ADJUST'];

/**
 * Whether an Online Retail stock code is a product: postage (POST, DOT, C2), manual entries (M,
 * D, S, B), fees, gift vouchers (gift_*), tests and adjustments are not.
 */
export function isProductCode(code: string): boolean {
  const first = code.charCodeAt(0);
  if (first >= 48 && first <= 57) return true;
  const upper = code.toUpperCase();
  return !nonProductCodes.has(upper) && !nonProductPrefixes.some((p) => upper.startsWith(p));
}

export interface OnlineRetailOptions extends LoadOptions {
  /** Drop postage, fees, vouchers and other non-product codes (default true). */
  dropNonProducts?: boolean;
}

const onlineRetailColumns = {
  invoice: ['InvoiceNo', 'Invoice'],
  item: ['StockCode'],
  description: ['Description'],
  quantity: ['Quantity'],
  date: ['InvoiceDate'],
  customer: ['CustomerID', 'Customer ID'],
} as const;

function onlineRetailParser(
  file: string,
  builder: InteractionLogBuilder,
  reports: LoadReportBuilder,
  options: OnlineRetailOptions,
): FileParser {
  const dropNonProducts = options.dropNonProducts ?? true;
  let width = 0;
  let invoice = -1;
  let item = -1;
  let description = -1;
  let quantity = -1;
  let date = -1;
  let customer = -1;
  let sawHeader = false;
  // Rows of one invoice share a date string; parse each distinct string once.
  let lastDateText = '';
  let lastTime = NaN;
  const parser: FileParser = {
    line: (text, line) => {
      if (parser.fatal === undefined) records.line(text, line);
    },
    end: () => {
      records.end();
      if (!sawHeader && parser.fatal === undefined) parser.fatal = `online-retail loader: ${file} is empty (no header)`;
    },
  };
  const records = new DelimitedRecordReader(
    ',',
    (fields, line, text) => {
      if (!sawHeader) {
        sawHeader = true;
        const header = fields.map((f) => f.trim());
        const found = Object.entries(onlineRetailColumns).map(([key, names]) => [key, columnIndex(header, names)] as const);
        const missing = found.filter(([, i]) => i < 0).map(([key]) => onlineRetailColumns[key as 'item'].join('|'));
        if (missing.length > 0) {
          parser.fatal = `online-retail loader: ${file} line ${line} has columns [${header.join(', ')}]; missing ${missing.join(', ')}`;
          return;
        }
        [invoice, item, description, quantity, date, customer] = found.map(([, i]) => i) as [
          number,
          number,
          number,
          number,
          number,
          number,
        ];
        width = header.length;
        records.expectedFields = width;
        return;
      }
      reports.report.rowsRead++;
      if (fields.length !== width) {
        reports.malformed(file, line, `expected ${width} fields, got ${fields.length}`, text);
        return;
      }
      const invoiceNo = fields[invoice]!.trim();
      const qty = Number(fields[quantity]);
      if (fields[quantity]!.trim() === '' || !Number.isFinite(qty)) {
        reports.malformed(file, line, 'bad quantity', text);
        return;
      }
      const dateText = fields[date]!;
      if (dateText !== lastDateText) {
        lastDateText = dateText;
        lastTime = parseDateTime(dateText.trim());
      }
      const time = lastTime;
      if (Number.isNaN(time)) {
        reports.malformed(file, line, 'bad date', text);
        return;
      }
      if (invoiceNo.startsWith('C') || invoiceNo.startsWith('c')) return reports.drop('cancellation');
      if (qty <= 0) return reports.drop('non-positive quantity');
      let customerId = fields[customer]!.trim();
      if (customerId === '') return reports.drop('no customer');
      if (customerId.endsWith('.0')) customerId = customerId.slice(0, -2);
      const code = fields[item]!.trim();
      if (code === '') {
        reports.malformed(file, line, 'empty StockCode', text);
        return;
      }
      if (dropNonProducts && !isProductCode(code)) return reports.drop('non-product code');
      const itemIndex = builder.add(customerId, code, time, invoiceNo);
      builder.voteTitle(itemIndex, fields[description]!.trim());
    },
    malformedRow(reports, file),
  );
  return parser;
}

/**
 * Loads an Online Retail CSV (either schema: InvoiceNo/CustomerID/UnitPrice of the 2010–2011 file
 * or Invoice/Customer ID/Price of Online Retail II), plain or compressed (.gz, .br, .xz). Drops
 * cancellations (invoice 'C...'), quantities ≤ 0, rows without a customer and, by default,
 * non-product codes. User = CustomerID, item = StockCode, basket = invoice, title = the item's
 * most frequent Description.
 */
export async function loadOnlineRetail(file: string, options: OnlineRetailOptions = {}): Promise<InteractionLog> {
  const reports = new LoadReportBuilder(options.maxExamples);
  const builder = new InteractionLogBuilder(reports.report);
  await parseFile(file, onlineRetailParser(file, builder, reports, options), reports, options);
  return builder.build();
}

/** As loadOnlineRetail, from bytes already in memory (benchmarks; no I/O). */
export function parseOnlineRetail(source: Buffer, options: OnlineRetailOptions = {}, file = '<buffer>'): InteractionLog {
  const reports = new LoadReportBuilder(options.maxExamples);
  const builder = new InteractionLogBuilder(reports.report);
  reports.report.files.push(file);
  const parser = onlineRetailParser(file, builder, reports, options);
  const splitter = new LineSplitter(parser.line, (line, bytes) =>
    reports.malformed(file, line, 'invalid UTF-8', bytes.toString('latin1')),
  );
  splitter.push(source);
  splitter.end();
  parser.end();
  if (parser.fatal) throw new Error(parser.fatal);
  return builder.build();
}

// ---------------------------------------------------------------------------------------------
// JSON lines: Amazon Reviews 2023 and generic JSONL

function jsonParser(file: string, reports: LoadReportBuilder, onObject: (o: Record<string, unknown>, line: number, text: string) => void): FileParser {
  return {
    line: (text, line) => {
      if (text.trim() === '') return;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        malformedRow(reports, file)(line, 'invalid JSON', text);
        return;
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        malformedRow(reports, file)(line, 'not a JSON object', text);
        return;
      }
      onObject(value as Record<string, unknown>, line, text);
    },
    end: () => {},
  };
}

function textOf(value: unknown): string {
  if (typeof value === 'string') return value.trim();
  if (Array.isArray(value)) return value.filter((v) => typeof v === 'string').join(' ').trim();
  if (typeof value === 'number') return String(value);
  return '';
}

export interface AmazonReviewsFiles {
  /** The reviews JSONL (user_id, parent_asin, timestamp in ms, ...). */
  reviews: string;
  /** The item metadata JSONL (parent_asin, title, description, ...), optional. */
  meta?: string;
}

/**
 * Loads Amazon Reviews 2023 (McAuley Lab) JSONL: user = user_id, item = parent_asin (asin when
 * absent), time = timestamp (ms). The meta file gives title and description (an array of
 * paragraphs, joined by spaces); meta rows for items without reviews are skipped.
 */
export async function loadAmazonReviews(files: AmazonReviewsFiles, options: LoadOptions = {}): Promise<InteractionLog> {
  const reports = new LoadReportBuilder(options.maxExamples);
  const builder = new InteractionLogBuilder(reports.report);
  const file = files.reviews;
  await parseFile(
    file,
    jsonParser(file, reports, (o, line, text) => {
      reports.report.rowsRead++;
      const user = textOf(o.user_id);
      const item = textOf(o.parent_asin) || textOf(o.asin);
      const time = typeof o.timestamp === 'number' ? o.timestamp : parseTime(textOf(o.timestamp), 'auto');
      if (user === '') return reports.malformed(file, line, 'missing user_id', text);
      if (item === '') return reports.malformed(file, line, 'missing parent_asin', text);
      if (!Number.isFinite(time)) return reports.malformed(file, line, 'bad timestamp', text);
      builder.add(user, item, time);
    }),
    reports,
    options,
  );
  if (files.meta) {
    const meta = files.meta;
    await parseFile(
      meta,
      jsonParser(meta, reports, (o, line, text) => {
        const key = textOf(o.parent_asin) || textOf(o.asin);
        if (key === '') return reports.malformed(meta, line, 'missing parent_asin', text);
        const item = builder.findItem(key);
        if (item === undefined) return reports.drop('meta row for an item without reviews');
        builder.setText(item, textOf(o.title), textOf(o.description));
      }),
      reports,
      options,
    );
  }
  return builder.build();
}

// ---------------------------------------------------------------------------------------------
// RecBole atomic files

export interface RecBoleFiles {
  /** The .inter file (tab-separated, header 'name:type'). */
  inter: string;
  /** The .item file, optional; gives titles (and descriptions when present). */
  item?: string;
}

const recboleNames = {
  user: ['user_id'],
  item: ['item_id'],
  time: ['timestamp'],
  basket: ['session_id', 'basket_id'],
  title: ['title', 'movie_title', 'item_name', 'name'],
  description: ['description', 'desc'],
};

function tabParser(
  file: string,
  reports: LoadReportBuilder,
  onHeader: (header: string[]) => string | undefined,
  onRow: (fields: string[], line: number, text: string) => void,
): FileParser {
  let width = -1;
  const parser: FileParser = {
    line: (text, line) => {
      if (parser.fatal !== undefined || text === '') return;
      // RecBole does not quote, so a tab split is exact and titles keep their quotes.
      const fields = text.split('\t');
      if (width < 0) {
        width = fields.length;
        const error = onHeader(fields.map((f) => f.trim().replace(/:[a-z_]+$/, '')));
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

/**
 * Loads RecBole atomic files: .inter needs user_id and item_id, and uses timestamp (Unix
 * seconds) when present, else the row order; .item gives title and description.
 */
export async function loadRecBole(files: RecBoleFiles, options: LoadOptions = {}): Promise<InteractionLog> {
  const reports = new LoadReportBuilder(options.maxExamples);
  const builder = new InteractionLogBuilder(reports.report);
  const inter = files.inter;
  let user = -1;
  let item = -1;
  let time = -1;
  let basket = -1;
  await parseFile(
    inter,
    tabParser(
      inter,
      reports,
      (header) => {
        user = columnIndex(header, recboleNames.user);
        item = columnIndex(header, recboleNames.item);
        time = columnIndex(header, recboleNames.time);
        basket = columnIndex(header, recboleNames.basket);
        if (user < 0 || item < 0) {
          return `recbole loader: ${inter} has columns [${header.join(', ')}]; needs user_id and item_id`;
        }
        return undefined;
      },
      (fields, line, text) => {
        reports.report.rowsRead++;
        const u = fields[user]!.trim();
        const i = fields[item]!.trim();
        if (u === '' || i === '') return reports.malformed(inter, line, 'empty user_id or item_id', text);
        const t = time >= 0 ? parseTime(fields[time]!, 'unix-s') : reports.report.rowsRead;
        if (!Number.isFinite(t)) return reports.malformed(inter, line, 'bad timestamp', text);
        builder.add(u, i, t, basket >= 0 ? fields[basket] : undefined);
      },
    ),
    reports,
    options,
  );
  if (files.item) {
    const itemFile = files.item;
    let id = -1;
    let title = -1;
    let description = -1;
    await parseFile(
      itemFile,
      tabParser(
        itemFile,
        reports,
        (header) => {
          id = columnIndex(header, recboleNames.item);
          title = columnIndex(header, recboleNames.title);
          description = columnIndex(header, recboleNames.description);
          return id < 0 ? `recbole loader: ${itemFile} has columns [${header.join(', ')}]; needs item_id` : undefined;
        },
        (fields) => {
          const index = builder.findItem(fields[id]!.trim());
          if (index === undefined) return reports.drop('item row without interactions');
          builder.setText(index, title >= 0 ? fields[title]!.trim() : '', description >= 0 ? fields[description]!.trim() : '');
        },
      ),
      reports,
      options,
    );
  }
  return builder.build();
}

// ---------------------------------------------------------------------------------------------
// Generic CSV / TSV / JSONL with a column map

/** Which column (CSV/TSV header name or JSON key) holds each field. */
export interface ColumnMap {
  user: string;
  item: string;
  /** Without it, the row order is the time. */
  time?: string;
  basket?: string;
  title?: string;
  description?: string;
}

export interface TableOptions extends LoadOptions {
  columns: ColumnMap;
  /** Default: from the extension (.csv, .tsv/.tab, .jsonl/.ndjson), after any .gz/.br/.xz. */
  format?: 'csv' | 'tsv' | 'jsonl';
  timeFormat?: TimeFormat;
}

/** The table format implied by a file name, or undefined. */
export function tableFormatOf(file: string): 'csv' | 'tsv' | 'jsonl' | undefined {
  const ext = path.extname(stripCompression(file)).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.tsv' || ext === '.tab') return 'tsv';
  if (ext === '.jsonl' || ext === '.ndjson' || ext === '.json') return 'jsonl';
  return undefined;
}

/** Loads any CSV, TSV or JSONL file of interactions through a column map. */
export async function loadTable(file: string, options: TableOptions): Promise<InteractionLog> {
  const format = options.format ?? tableFormatOf(file);
  if (!format) throw new Error(`table loader: cannot tell the format of ${file}; pass format: 'csv' | 'tsv' | 'jsonl'`);
  const reports = new LoadReportBuilder(options.maxExamples);
  const builder = new InteractionLogBuilder(reports.report);
  const columns = options.columns;
  const timeFormat = options.timeFormat ?? 'auto';
  const add = (
    get: (name: string | undefined) => string | undefined,
    line: number,
    text: string,
  ): void => {
    reports.report.rowsRead++;
    const user = get(columns.user)?.trim() ?? '';
    const item = get(columns.item)?.trim() ?? '';
    if (user === '' || item === '') return reports.malformed(file, line, `empty ${user === '' ? columns.user : columns.item}`, text);
    const time = columns.time ? parseTime(get(columns.time) ?? '', timeFormat) : reports.report.rowsRead;
    if (!Number.isFinite(time)) return reports.malformed(file, line, 'bad time', text);
    const index = builder.add(user, item, time, columns.basket ? get(columns.basket) : undefined);
    if (columns.title) builder.voteTitle(index, get(columns.title)?.trim() ?? '');
    if (columns.description) {
      const d = get(columns.description)?.trim() ?? '';
      if (d !== '') builder.setDescription(index, d);
    }
  };
  let parser: FileParser;
  if (format === 'jsonl') {
    parser = jsonParser(file, reports, (o, line, text) =>
      add((name) => (name === undefined || o[name] === undefined ? undefined : textOf(o[name])), line, text),
    );
  } else {
    let header: string[] | undefined;
    const parserRef: FileParser = {
      line: (text, line) => {
        if (parserRef.fatal === undefined) records.line(text, line);
      },
      end: () => {
        records.end();
        if (!header && parserRef.fatal === undefined) parserRef.fatal = `table loader: ${file} is empty (no header)`;
      },
    };
    const records = new DelimitedRecordReader(
      format === 'csv' ? ',' : '\t',
      (fields, line, text) => {
        if (!header) {
          header = fields.map((f) => f.trim());
          const wanted = Object.values(columns).filter((c): c is string => typeof c === 'string');
          const missing = wanted.filter((c) => !header!.includes(c));
          if (missing.length > 0) {
            parserRef.fatal = `table loader: ${file} has columns [${header.join(', ')}]; missing ${missing.join(', ')}`;
          }
          records.expectedFields = header.length;
          return;
        }
        if (fields.length !== header.length) {
          reports.report.rowsRead++;
          return reports.malformed(file, line, `expected ${header.length} fields, got ${fields.length}`, text);
        }
        const h = header;
        add((name) => (name === undefined ? undefined : fields[h.indexOf(name)]), line, text);
      },
      malformedRow(reports, file),
    );
    parser = parserRef;
  }
  await parseFile(file, parser, reports, options);
  return builder.build();
}

// ---------------------------------------------------------------------------------------------
// Detection

/** The first line of a (possibly compressed) file, or '' when it is empty. */
export async function readFirstLine(file: string): Promise<string> {
  const text = (await readHead(file, 65536)).toString('utf8');
  const nl = text.indexOf('\n');
  return (nl < 0 ? text : text.slice(0, nl)).replace(/\r$/, '');
}
