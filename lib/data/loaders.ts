// Loaders for the supported sources. Each turns one or more files into an InteractionLog and a
// LoadReport; a malformed row is counted with its file and line and never stops the load. Only a
// file that cannot be used at all (missing columns, empty) raises an Error naming the loader,
// the file and what was expected.
import path from 'node:path';
import {
  checkMinRating,
  columnIndex,
  passesRating,
  ratingOf,
  malformedRow,
  objectLineParser,
  parseFile,
  tabParser,
  textOf,
  type FileParser,
  type LoadOptions,
  type RecBoleColumn,
} from './file-parser.js';
import { InteractionLogBuilder, parseDateTime, parseTime, type InteractionLog, type TimeFormat } from './log.js';
import { DelimitedRecordReader, LineSplitter, LoadReportBuilder, readHead, stripCompression } from './text.js';
import { expectArgs } from '../guard.js';

export type { LoadOptions } from './file-parser.js';

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
  expectArgs('isProductCode', { code }, 'string');
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
  checkMinRating(options, 'online-retail loader', false);
  const reports = new LoadReportBuilder(options.maxExamples);
  const builder = new InteractionLogBuilder(reports.report);
  await parseFile(file, onlineRetailParser(file, builder, reports, options), reports, options);
  return builder.build();
}

/** As loadOnlineRetail, from bytes already in memory (benchmarks; no I/O). */
export function parseOnlineRetail(source: Buffer, options: OnlineRetailOptions = {}, file = '<buffer>'): InteractionLog {
  expectArgs('parseOnlineRetail', { source }, Uint8Array);
  expectArgs('parseOnlineRetail', { options }, 'options');
  expectArgs('parseOnlineRetail', { file }, 'string');
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
// Amazon Reviews 2023 (JSON lines)

export interface AmazonReviewsFiles {
  /** The reviews JSONL (user_id, parent_asin, timestamp in ms, rating, ...). */
  reviews: string;
  /** The item metadata JSONL (parent_asin, title, description, categories, store), optional. */
  meta?: string;
}

/**
 * Loads Amazon Reviews 2023 (McAuley Lab) JSONL: user = user_id, item = parent_asin (asin when
 * absent), time = timestamp (ms). The meta file gives title, description (paragraphs joined by
 * spaces), categories and store (as the brand); meta rows for items without reviews are skipped.
 */
export async function loadAmazonReviews(files: AmazonReviewsFiles, options: LoadOptions = {}): Promise<InteractionLog> {
  expectArgs('loadAmazonReviews', { files }, 'object');
  expectArgs('loadAmazonReviews', { options }, 'options');
  const minRating = checkMinRating(options, 'amazon-2023 loader', true);
  const reports = new LoadReportBuilder(options.maxExamples);
  const builder = new InteractionLogBuilder(reports.report);
  const file = files.reviews;
  await parseFile(
    file,
    objectLineParser(file, reports, (o, line, text) => {
      reports.report.rowsRead++;
      const user = textOf(o.user_id);
      const item = textOf(o.parent_asin) || textOf(o.asin);
      const time = typeof o.timestamp === 'number' ? o.timestamp : parseTime(textOf(o.timestamp), 'auto');
      if (user === '') return reports.malformed(file, line, 'missing user_id', text);
      if (item === '') return reports.malformed(file, line, 'missing parent_asin', text);
      if (!Number.isFinite(time)) return reports.malformed(file, line, 'bad timestamp', text);
      if (!passesRating(reports, minRating, ratingOf(o.rating), file, line, text)) return;
      builder.add(user, item, time);
    }),
    reports,
    options,
  );
  builder.describeSource({ textFields: files.meta ? ['title', 'description', 'brand', 'category'] : [] });
  if (files.meta) {
    await readAmazon2023Meta(
      files.meta,
      (key) => builder.findItem(key),
      (item, text) => {
        builder.setText(item, text.title, text.description);
        builder.setAttributes(item, { brand: text.brand, category: text.category });
      },
      reports,
      options,
    );
  }
  return builder.build();
}

/** An item's text fields, as the metadata files give them. */
export interface ItemTextValues {
  title: string;
  description: string;
  brand: string;
  category: string;
}

/**
 * Reads Amazon Reviews 2023 metadata (parent_asin, title, description paragraphs joined by
 * spaces, store as the brand, categories joined by ', ') for the items `itemOf` knows.
 */
export async function readAmazon2023Meta(
  meta: string,
  itemOf: (key: string) => number | undefined,
  set: (item: number, text: ItemTextValues) => void,
  reports: LoadReportBuilder,
  options: LoadOptions,
): Promise<void> {
  await parseFile(
    meta,
    objectLineParser(meta, reports, (o, line, text) => {
      const key = textOf(o.parent_asin) || textOf(o.asin);
      if (key === '') return reports.malformed(meta, line, 'missing parent_asin', text);
      const item = itemOf(key);
      if (item === undefined) return reports.drop('meta row for an item without reviews');
      set(item, {
        title: textOf(o.title),
        description: textOf(o.description),
        brand: textOf(o.store),
        category: textOf(o.categories, ', '),
      });
    }),
    reports,
    options,
  );
}

// ---------------------------------------------------------------------------------------------
// RecBole atomic files

export interface RecBoleFiles {
  /** The .inter file (tab-separated, header 'name:type'). */
  inter: string;
  /** The .item file, optional; gives titles (and descriptions, brands, categories when present). */
  item?: string;
}

export const recboleNames = {
  user: ['user_id'],
  item: ['item_id'],
  time: ['timestamp'],
  rating: ['rating'],
  basket: ['session_id', 'basket_id'],
  title: ['title', 'movie_title', 'item_name', 'name'],
  description: ['description', 'desc'],
  brand: ['brand', 'store'],
  category: ['categories', 'category', 'genre', 'genres', 'class'],
};

/** Text columns an .inter file may carry that say nothing about its structure (review text). */
const ignorableInterTextColumns = ['review', 'review_text', 'text', 'summary', 'title', 'comment'];

/**
 * Why an atomic .inter header cannot be read as one interaction per row, or undefined. A
 * token_seq column of ids (item_id_list) means a sequence file, which only a sequence split
 * reads; any other token_seq column is refused rather than guessed at.
 */
export function recboleInterRefusal(file: string, header: readonly RecBoleColumn[]): string | undefined {
  expectArgs('recboleInterRefusal', { file }, 'string');
  expectArgs('recboleInterRefusal', { header }, 'array');
  const sequences = header.filter((c) => c.type === 'token_seq' || c.type === 'float_seq');
  const idLists = sequences.filter((c) => /(^|_)(item|user)_id_list$|_list$/.test(c.name));
  if (idLists.length > 0) {
    return (
      `recbole loader: ${file} holds id sequences (${idLists.map((c) => `${c.name}:${c.type}`).join(', ')}), ` +
      'the layout of a RecBole sequence split; read its folder (or --format recbole-split) with the matching ' +
      '.train.inter, .valid.inter and .test.inter files'
    );
  }
  const unknown = sequences.filter((c) => !ignorableInterTextColumns.includes(c.name));
  if (unknown.length > 0) {
    return (
      `recbole loader: ${file} has sequence columns llmrec does not understand ` +
      `(${unknown.map((c) => `${c.name}:${c.type}`).join(', ')}); an .inter file must have one user_id and one ` +
      'item_id per row. Convert it, or give the columns as a generic table (--format tsv --user-column ... --item-column ...)'
    );
  }
  return undefined;
}

/**
 * Loads RecBole atomic files: .inter needs user_id and item_id, and uses timestamp (Unix
 * seconds) when present, else the row order, and rating when filtering by rating; .item gives
 * title, description, brand and categories. An .inter with id sequences is refused (see
 * loadRecBoleSplit).
 */
export async function loadRecBole(files: RecBoleFiles, options: LoadOptions = {}): Promise<InteractionLog> {
  expectArgs('loadRecBole', { files }, 'object');
  expectArgs('loadRecBole', { options }, 'options');
  const reports = new LoadReportBuilder(options.maxExamples);
  const builder = new InteractionLogBuilder(reports.report);
  const inter = files.inter;
  let user = -1;
  let item = -1;
  let time = -1;
  let rating = -1;
  let basket = -1;
  let minRating: number | undefined;
  await parseFile(
    inter,
    tabParser(
      inter,
      reports,
      (columns) => {
        const refusal = recboleInterRefusal(inter, columns);
        if (refusal) return refusal;
        const header = columns.map((c) => c.name);
        user = columnIndex(header, recboleNames.user);
        item = columnIndex(header, recboleNames.item);
        time = columnIndex(header, recboleNames.time);
        rating = columnIndex(header, recboleNames.rating);
        basket = columnIndex(header, recboleNames.basket);
        if (user < 0 || item < 0) {
          return `recbole loader: ${inter} has columns [${header.join(', ')}]; needs user_id and item_id`;
        }
        try {
          minRating = checkMinRating(options, `recbole loader (${inter})`, rating >= 0);
        } catch (e) {
          return (e as Error).message;
        }
        builder.describeSource({ timeIsOrder: time < 0 });
        return undefined;
      },
      (fields, line, text) => {
        reports.report.rowsRead++;
        const u = fields[user]!.trim();
        const i = fields[item]!.trim();
        if (u === '' || i === '') return reports.malformed(inter, line, 'empty user_id or item_id', text);
        const t = time >= 0 ? parseTime(fields[time]!, 'unix-s') : reports.report.rowsRead;
        if (!Number.isFinite(t)) return reports.malformed(inter, line, 'bad timestamp', text);
        if (rating >= 0 && !passesRating(reports, minRating, ratingOf(fields[rating]), inter, line, text)) return;
        builder.add(u, i, t, basket >= 0 ? fields[basket] : undefined);
      },
    ),
    reports,
    options,
  );
  if (files.item) {
    const itemFile = files.item;
    let id = -1;
    const text: Record<'title' | 'description' | 'brand' | 'category', number> = {
      title: -1,
      description: -1,
      brand: -1,
      category: -1,
    };
    await parseFile(
      itemFile,
      tabParser(
        itemFile,
        reports,
        (columns) => {
          const header = columns.map((c) => c.name);
          id = columnIndex(header, recboleNames.item);
          for (const key of Object.keys(text) as (keyof typeof text)[]) text[key] = columnIndex(header, recboleNames[key]);
          if (id < 0) return `recbole loader: ${itemFile} has columns [${header.join(', ')}]; needs item_id`;
          builder.describeSource({
            textFields: (Object.keys(text) as (keyof typeof text)[]).filter((key) => text[key] >= 0),
          });
          return undefined;
        },
        (fields) => {
          const index = builder.findItem(fields[id]!.trim());
          if (index === undefined) return reports.drop('item row without interactions');
          const field = (key: keyof typeof text) => (text[key] >= 0 ? fields[text[key]]!.trim() : '');
          builder.setText(index, field('title'), field('description'));
          if (text.brand >= 0 || text.category >= 0) {
            builder.setAttributes(index, { brand: field('brand'), category: field('category') });
          }
        },
      ),
      reports,
      options,
    );
  } else {
    builder.describeSource({ textFields: [] });
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
  /** Needed to filter by rating (minRating). */
  rating?: string;
}

export interface TableOptions extends LoadOptions {
  columns: ColumnMap;
  /** Default: from the extension (.csv, .tsv/.tab, .jsonl/.ndjson), after any .gz/.br/.xz. */
  format?: 'csv' | 'tsv' | 'jsonl';
  timeFormat?: TimeFormat;
}

/** The table format implied by a file name, or undefined. */
export function tableFormatOf(file: string): 'csv' | 'tsv' | 'jsonl' | undefined {
  expectArgs('tableFormatOf', { file }, 'string');
  const ext = path.extname(stripCompression(file)).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.tsv' || ext === '.tab') return 'tsv';
  if (ext === '.jsonl' || ext === '.ndjson' || ext === '.json') return 'jsonl';
  return undefined;
}

/** Loads any CSV, TSV or JSONL file of interactions through a column map. */
export async function loadTable(file: string, options: TableOptions): Promise<InteractionLog> {
  expectArgs('loadTable', { file }, 'string');
  expectArgs('loadTable', { options }, 'object');
  const format = options.format ?? tableFormatOf(file);
  if (!format) throw new Error(`table loader: cannot tell the format of ${file}; pass format: 'csv' | 'tsv' | 'jsonl'`);
  const columns = options.columns;
  const minRating = checkMinRating(options, 'table loader', columns.rating !== undefined);
  const reports = new LoadReportBuilder(options.maxExamples);
  const builder = new InteractionLogBuilder(reports.report);
  const timeFormat = options.timeFormat ?? 'auto';
  builder.describeSource({
    timeIsOrder: !columns.time,
    textFields: [...(columns.title ? ['title' as const] : []), ...(columns.description ? ['description' as const] : [])],
  });
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
    if (columns.rating && !passesRating(reports, minRating, ratingOf(get(columns.rating)), file, line, text)) return;
    const index = builder.add(user, item, time, columns.basket ? get(columns.basket) : undefined);
    if (columns.title) builder.voteTitle(index, get(columns.title)?.trim() ?? '');
    if (columns.description) {
      const d = get(columns.description)?.trim() ?? '';
      if (d !== '') builder.setDescription(index, d);
    }
  };
  let parser: FileParser;
  if (format === 'jsonl') {
    parser = objectLineParser(file, reports, (o, line, text) =>
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

/** The first line of a (possibly compressed) file (at most `limit` bytes of it), or '' when it is empty. */
export async function readFirstLine(file: string, limit = 65536): Promise<string> {
  expectArgs('readFirstLine', { file }, 'string');
  expectArgs('readFirstLine', { limit }, 'integer');
  const text = (await readHead(file, limit)).toString('utf8');
  const nl = text.indexOf('\n');
  return (nl < 0 ? text : text.slice(0, nl)).replace(/\r$/, '');
}
