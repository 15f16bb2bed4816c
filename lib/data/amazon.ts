// Amazon product reviews of 2014 and 2018 (McAuley Lab): `reviews_<Category>[_5].json.gz` (2014)
// or `<Category>[_5].json.gz` (2018), one review per line, and `meta_<Category>.json.gz`. The
// 2018 lines are JSON; the 2014 metadata lines (and some 2014 review files, "loose JSON") are
// Python dict literals, which are parsed, never evaluated. LLM-SRec and A-LLMRec start here.
import { checkMinRating, objectLineParser, parseFile, passesRating, ratingOf, textOf, type LoadOptions } from './file-parser.js';
import { filterLogRows, InteractionLogBuilder, parseDateTime, type InteractionLog } from './log.js';
import { LoadReportBuilder } from './text.js';
import { expectArgs } from '../guard.js';

export interface AmazonReviewsLegacyFiles {
  /** The reviews: reviewerID, asin, overall, unixReviewTime (or reviewTime), one per line. */
  reviews: string;
  /** The metadata: asin, title, description, brand, category (2018) or categories (2014). */
  meta?: string;
}

export interface AmazonReviewsLegacyOptions extends LoadOptions {
  /** Which release the files are (only the messages differ: both are read the same way). */
  edition?: '2014' | '2018';
  /**
   * Keep the interactions of items that have no title in the metadata. Default false: they are
   * dropped, as the papers' preprocessing skips items without a title, and counted in the report.
   */
  keepUntitled?: boolean;
}

const monthDayYear = /^(\d{1,2}) (\d{1,2}), (\d{4})$/;

/** unixReviewTime (seconds), or reviewTime ('MM DD, YYYY') when it is missing; NaN if neither. */
function reviewTime(o: Record<string, unknown>): number {
  const unix = o.unixReviewTime;
  if (typeof unix === 'number') return unix * 1000;
  if (typeof unix === 'string' && /^\d+$/.test(unix.trim())) return Number(unix) * 1000;
  const m = typeof o.reviewTime === 'string' ? monthDayYear.exec(o.reviewTime.trim()) : null;
  return m ? parseDateTime(`${m[3]}-${m[1]}-${m[2]}`) : NaN;
}

/** Distinct non-empty strings of a (nested) list, in order: 2014 categories are lists of paths. */
function distinctStrings(value: unknown): string[] {
  if (!Array.isArray(value)) return typeof value === 'string' && value.trim() !== '' ? [value.trim()] : [];
  const seen = new Set<string>();
  for (const v of value.flat(3)) if (typeof v === 'string' && v.trim() !== '') seen.add(v.trim());
  return [...seen];
}

function fieldsOf(o: Record<string, unknown>): string {
  return `[${Object.keys(o).slice(0, 12).join(', ')}]`;
}

/**
 * Loads Amazon 2014 or 2018 reviews (user = reviewerID, item = asin, time = unixReviewTime,
 * rating = overall) and, when given, the metadata (title; description, paragraphs joined by
 * spaces; brand; categories joined by ', '). Items without a title are dropped unless
 * keepUntitled; a file whose records lack the fields of its role is refused.
 */
export async function loadAmazonReviews2018(
  files: AmazonReviewsLegacyFiles,
  options: AmazonReviewsLegacyOptions = {},
): Promise<InteractionLog> {
  expectArgs('loadAmazonReviews2018', { files }, 'object');
  expectArgs('loadAmazonReviews2018', { options }, 'options');
  const edition = options.edition ?? '2018';
  const loader = `amazon-${edition} loader`;
  const minRating = checkMinRating(options, loader, true);
  const reports = new LoadReportBuilder(options.maxExamples);
  const builder = new InteractionLogBuilder(reports.report);
  const file = files.reviews;
  let checked = false;
  const reviews = objectLineParser(
    file,
    reports,
    (o, line, text) => {
      if (!checked) {
        checked = true;
        if (!('reviewerID' in o) || !('asin' in o)) {
          const hint =
            'user_id' in o && ('parent_asin' in o || 'asin' in o)
              ? ' (these are Amazon Reviews 2023 fields: use --format amazon-2023)'
              : 'title' in o || 'categories' in o || 'category' in o
                ? ' (this looks like a metadata file: give the reviews file, and this one as its meta)'
                : '';
          reviews.fatal =
            `${loader}: ${file} line ${line} is not an Amazon ${edition} review: its fields are ${fieldsOf(o)}; ` +
            `expected reviewerID, asin, overall and unixReviewTime${hint}`;
        }
      }
      if (reviews.fatal !== undefined) return;
      reports.report.rowsRead++;
      const user = textOf(o.reviewerID);
      const item = textOf(o.asin);
      const time = reviewTime(o);
      if (user === '') return reports.malformed(file, line, 'missing reviewerID', text);
      if (item === '') return reports.malformed(file, line, 'missing asin', text);
      if (!Number.isFinite(time)) return reports.malformed(file, line, 'bad unixReviewTime', text);
      if (!passesRating(reports, minRating, ratingOf(o.overall), file, line, text)) return;
      builder.add(user, item, time);
    },
    true,
  );
  await parseFile(file, reviews, reports, options);
  builder.describeSource({ textFields: files.meta ? ['title', 'description', 'brand', 'category'] : [] });
  if (!files.meta) return builder.build();

  const metaFile = files.meta;
  const titled = new Uint8Array(builder.itemCount);
  let checkedMeta = false;
  const meta = objectLineParser(
    metaFile,
    reports,
    (o, line, text) => {
      if (!checkedMeta) {
        checkedMeta = true;
        if (!('asin' in o) || 'reviewerID' in o) {
          meta.fatal =
            `${loader}: ${metaFile} line ${line} is not Amazon ${edition} metadata: its fields are ${fieldsOf(o)}; ` +
            'expected asin, title, description, brand and category/categories';
        }
      }
      if (meta.fatal !== undefined) return;
      const key = textOf(o.asin);
      if (key === '') return reports.malformed(metaFile, line, 'missing asin', text);
      const item = builder.findItem(key);
      if (item === undefined) return reports.drop('meta row for an item without reviews');
      // The first row with a title wins (the 2018 files repeat some items).
      if (titled[item]) return reports.drop('repeated meta row');
      const title = textOf(o.title);
      if (title !== '') titled[item] = 1;
      builder.setText(item, title, textOf(o.description));
      builder.setAttributes(item, { brand: textOf(o.brand), category: distinctStrings(o.category ?? o.categories).join(', ') });
    },
    true,
  );
  await parseFile(metaFile, meta, reports, options);
  const log = builder.build();
  if (options.keepUntitled) return log;
  const keep = new Uint8Array(log.item.length);
  let untitledItems = 0;
  for (let i = 0; i < titled.length; i++) if (!titled[i]) untitledItems++;
  for (let r = 0; r < keep.length; r++) keep[r] = titled[log.item[r]!]!;
  if (untitledItems > 0) {
    reports.note(
      `${untitledItems.toLocaleString('en-US')} of ${titled.length.toLocaleString('en-US')} items have no title in ${metaFile}; ` +
        'their interactions were dropped, as the papers do (keepUntitled / --keep-untitled keeps them)',
    );
  }
  return filterLogRows(log, keep, 'item without a title in the metadata');
}
