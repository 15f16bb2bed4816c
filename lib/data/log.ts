// The raw interaction log every loader produces: columnar typed arrays plus interned string keys,
// so a large file costs ~20 bytes per kept row and no JS object per interaction.
import type { ItemTextField } from './dataset.js';
import type { LoadReport } from './text.js';
import { expectArgs } from '../guard.js';

/** Interactions as loaded, before any preprocessing. Indices into the key arrays are internal. */
export interface InteractionLog {
  /** Raw user keys (e.g. CustomerID), by internal user index. */
  userKeys: string[];
  /** Raw item keys (e.g. StockCode or parent_asin), by internal item index. */
  itemKeys: string[];
  /** One entry per interaction, in file order. */
  user: Int32Array;
  item: Int32Array;
  /** Milliseconds since the Unix epoch (UTC); file order when the source has no time. */
  time: Float64Array;
  /** Basket (invoice/session) index per interaction, or -1 where the source has none. */
  basket: Int32Array;
  /** Item titles by internal item index ('' where unknown). */
  titles: string[];
  /** Item descriptions by internal item index ('' where unknown). */
  descriptions: string[];
  /** Brands and categories (joined by ', ') by internal item index, where the source has them. */
  brands?: string[];
  categories?: string[];
  /** The item fields this source provides (default: title and description). */
  textFields?: ItemTextField[];
  /** True when the source has no times and `time` is the row order. */
  timeIsOrder?: boolean;
  report: LoadReport;
}

/** Grows the columns of an InteractionLog while a file streams in. */
export class InteractionLogBuilder {
  private readonly users = new Map<string, number>();
  private readonly items = new Map<string, number>();
  private readonly baskets = new Map<string, number>();
  private readonly userKeys: string[] = [];
  private readonly itemKeys: string[] = [];
  // Title votes: the first title seen and its count, plus a map only for items whose rows
  // disagree; most rows repeat the first title, so they cost one string compare.
  private readonly firstTitle: string[] = [];
  private firstTitleCount = new Int32Array(1024);
  private readonly otherTitles: (Map<string, number> | undefined)[] = [];
  private lastUserKey: string | undefined;
  private lastUser = -1;
  private lastBasketKey: string | undefined;
  private lastBasket = -1;
  private readonly titles: string[] = [];
  private readonly descriptions: string[] = [];
  private brands: string[] | undefined;
  private categories: string[] | undefined;
  private textFields: ItemTextField[] | undefined;
  private timeIsOrder = false;
  private user = new Int32Array(1 << 16);
  private item = new Int32Array(1 << 16);
  private time = new Float64Array(1 << 16);
  private basket = new Int32Array(1 << 16);
  private count = 0;

  constructor(readonly report: LoadReport) {}

  get size(): number {
    return this.count;
  }

  /** Distinct items so far. */
  get itemCount(): number {
    return this.itemKeys.length;
  }

  /** Interns an item key and returns its index (for loaders that attach text before rows). */
  itemIndex(key: string): number {
    let index = this.items.get(key);
    if (index === undefined) {
      index = this.itemKeys.length;
      this.items.set(key, index);
      this.itemKeys.push(key);
      this.titles.push('');
      this.descriptions.push('');
      this.firstTitle.push('');
      this.otherTitles.push(undefined);
      if (index === this.firstTitleCount.length) {
        const counts = new Int32Array(index * 2);
        counts.set(this.firstTitleCount);
        this.firstTitleCount = counts;
      }
    }
    return index;
  }

  /** The index of an item key already seen, or undefined. */
  findItem(key: string): number | undefined {
    return this.items.get(key);
  }

  add(userKey: string, itemKey: string, timeMs: number, basketKey?: string): number {
    if (this.count === this.user.length) this.grow();
    // Rows of one user and one basket usually come together; skip the map for a repeat.
    let u = userKey === this.lastUserKey ? this.lastUser : this.users.get(userKey);
    if (u === undefined) {
      u = this.userKeys.length;
      this.users.set(userKey, u);
      this.userKeys.push(userKey);
    }
    this.lastUserKey = userKey;
    this.lastUser = u;
    let b = -1;
    if (basketKey !== undefined) {
      b = basketKey === this.lastBasketKey ? this.lastBasket : (this.baskets.get(basketKey) ?? -1);
      if (b < 0) {
        b = this.baskets.size;
        this.baskets.set(basketKey, b);
      }
      this.lastBasketKey = basketKey;
      this.lastBasket = b;
    }
    const i = this.itemIndex(itemKey);
    const row = this.count++;
    this.user[row] = u;
    this.item[row] = i;
    this.time[row] = timeMs;
    this.basket[row] = b;
    this.report.rowsKept++;
    return i;
  }

  /** Sets an item's text outright (a metadata file has one authoritative title). */
  setText(item: number, title: string, description = ''): void {
    this.titles[item] = title;
    this.descriptions[item] = description;
  }

  /** Sets an item's brand and categories (sources with richer metadata). */
  setAttributes(item: number, attributes: { brand?: string; category?: string }): void {
    if (attributes.brand !== undefined) (this.brands ??= [])[item] = attributes.brand;
    if (attributes.category !== undefined) (this.categories ??= [])[item] = attributes.category;
  }

  /** The item fields the source provides, and whether its times are only the row order. */
  describeSource(source: { textFields?: ItemTextField[]; timeIsOrder?: boolean }): void {
    if (source.textFields) this.textFields = source.textFields;
    if (source.timeIsOrder) this.timeIsOrder = true;
  }

  /** Sets an item's description, keeping its title. */
  setDescription(item: number, description: string): void {
    this.descriptions[item] = description;
  }

  /**
   * Records one row's title for an item whose rows disagree (Online Retail descriptions vary
   * across invoices); the most frequent non-empty title wins, the first seen breaking ties.
   */
  voteTitle(item: number, title: string): void {
    if (title === '') return;
    if (this.firstTitleCount[item] === 0 || this.firstTitle[item] === title) {
      this.firstTitle[item] = title;
      this.firstTitleCount[item]!++;
      return;
    }
    let votes = this.otherTitles[item];
    if (!votes) {
      votes = new Map();
      this.otherTitles[item] = votes;
    }
    votes.set(title, (votes.get(title) ?? 0) + 1);
  }

  build(): InteractionLog {
    this.firstTitle.forEach((first, item) => {
      if (this.firstTitleCount[item] === 0) return;
      let best = first;
      let bestCount = this.firstTitleCount[item]!;
      for (const [title, count] of this.otherTitles[item] ?? []) {
        if (count > bestCount) {
          best = title;
          bestCount = count;
        }
      }
      this.titles[item] = best;
    });
    const n = this.count;
    const dense = (values: string[] | undefined) => values && Array.from(this.itemKeys, (_, i) => values[i] ?? '');
    const log: InteractionLog = {
      userKeys: this.userKeys,
      itemKeys: this.itemKeys,
      user: this.user.slice(0, n),
      item: this.item.slice(0, n),
      time: this.time.slice(0, n),
      basket: this.basket.slice(0, n),
      titles: this.titles,
      descriptions: this.descriptions,
      report: this.report,
    };
    const brands = dense(this.brands);
    const categories = dense(this.categories);
    if (brands) log.brands = brands;
    if (categories) log.categories = categories;
    if (this.textFields) log.textFields = this.textFields;
    if (this.timeIsOrder) log.timeIsOrder = true;
    return log;
  }

  private grow(): void {
    const size = this.user.length * 2;
    const user = new Int32Array(size);
    user.set(this.user);
    this.user = user;
    const item = new Int32Array(size);
    item.set(this.item);
    this.item = item;
    const time = new Float64Array(size);
    time.set(this.time);
    this.time = time;
    const basket = new Int32Array(size);
    basket.set(this.basket);
    this.basket = basket;
  }
}

/**
 * The log without the rows whose `keep` entry is 0 (the key tables stay; unused keys drop out at
 * preparation). The removed rows are counted in the report as dropped for `reason`.
 */
export function filterLogRows(log: InteractionLog, keep: Uint8Array, reason: string): InteractionLog {
  expectArgs('filterLogRows', { log }, 'object');
  expectArgs('filterLogRows', { keep }, Uint8Array);
  expectArgs('filterLogRows', { reason }, 'string');
  let kept = 0;
  for (let r = 0; r < keep.length; r++) kept += keep[r] ? 1 : 0;
  const removed = log.user.length - kept;
  if (removed === 0) return log;
  const take = <T extends Int32Array | Float64Array>(column: T): T => {
    const out = new (column.constructor as new (n: number) => T)(kept);
    let w = 0;
    for (let r = 0; r < column.length; r++) if (keep[r]) out[w++] = column[r]!;
    return out;
  };
  log.report.dropped[reason] = (log.report.dropped[reason] ?? 0) + removed;
  log.report.rowsKept -= removed;
  return { ...log, user: take(log.user), item: take(log.item), time: take(log.time), basket: take(log.basket) };
}

function utcMs(y: number, mo: number, d: number, h: number, mi: number, s: number): number {
  if (!(mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h >= 0 && h < 24 && mi >= 0 && mi < 60 && s >= 0 && s < 61)) {
    return NaN;
  }
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1]!;
  if (d > monthDays) return NaN;
  return Date.UTC(y, mo - 1, d, h, mi, s);
}

const isoPattern = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?(Z|[+-]00:?00)?$/;
const usPattern = /^(\d{1,2})\/(\d{1,2})\/(\d{4})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?)?$/;

/**
 * Parses 'YYYY-MM-DD[ HH:MM[:SS[.fff]]]' (also with 'T' and a 'Z') or the spreadsheet form
 * 'M/D/YYYY H:MM' as UTC milliseconds; NaN when the text is not a valid date. Online Retail
 * times carry no zone; reading them as UTC keeps the order and the calendar day.
 */
export function parseDateTime(text: string): number {
  let m = isoPattern.exec(text);
  if (m) {
    const ms = m[7] ? Number(`0.${m[7]}`) * 1000 : 0;
    return utcMs(+m[1]!, +m[2]!, +m[3]!, +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0)) + ms;
  }
  m = usPattern.exec(text);
  if (m) return utcMs(+m[3]!, +m[1]!, +m[2]!, +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0));
  return NaN;
}

/** How a time column is written. */
export type TimeFormat = 'auto' | 'unix-s' | 'unix-ms' | 'datetime';

/**
 * Converts a time field to UTC milliseconds. 'auto' reads a plain number as Unix seconds when it
 * is below 1e11 (years before 5138) and as milliseconds otherwise, and anything else as a date.
 */
export function parseTime(text: string, format: TimeFormat): number {
  expectArgs('parseTime', { text }, 'string');
  if (format === 'datetime') return parseDateTime(text);
  const trimmed = text.trim();
  const value = trimmed === '' ? NaN : Number(trimmed);
  if (format === 'unix-s') return value * 1000;
  if (format === 'unix-ms') return value;
  if (Number.isFinite(value)) return Math.abs(value) < 1e11 ? value * 1000 : value;
  return parseDateTime(trimmed);
}
