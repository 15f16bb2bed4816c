// MovieLens (GroupLens) in its three layouts: ml-1m and ml-10m (`ratings.dat`, `movies.dat`,
// fields separated by '::'), ml-100k (`u.data` tab-separated, `u.item` '|'-separated with 19
// genre flags named in `u.genre`) and ml-latest/20m/25m (`ratings.csv`, `movies.csv`). The
// 1M and 100k files are Latin-1, so lines that are not UTF-8 are read as Latin-1.
import path from 'node:path';
import { checkMinRating, malformedRow, parseFile, passesRating, type FileParser, type LoadOptions } from './file-parser.js';
import { InteractionLogBuilder, type InteractionLog } from './log.js';
import { LoadReportBuilder, splitDelimited, stripCompression } from './text.js';
import { expectArgs } from '../guard.js';

export interface MovieLensFiles {
  /** ratings.dat, u.data or ratings.csv. */
  ratings: string;
  /** movies.dat, u.item or movies.csv: titles and genres. */
  movies?: string;
  /** u.genre (ml-100k): the names of u.item's genre flags; the standard list when absent. */
  genres?: string;
}

/** The 19 genres of ml-100k's u.item flags, in order (what u.genre lists). */
export const movieLens100kGenres = [
  'unknown',
  'Action',
  'Adventure',
  'Animation',
  "Children's",
  'Comedy',
  'Crime',
  'Documentary',
  'Drama',
  'Fantasy',
  'Film-Noir',
  'Horror',
  'Musical',
  'Mystery',
  'Romance',
  'Sci-Fi',
  'Thriller',
  'War',
  'Western',
];

type Layout = 'dat' | '100k' | 'csv';

function layoutOf(file: string): Layout | undefined {
  const base = path.basename(stripCompression(file)).toLowerCase();
  if (base.endsWith('.dat')) return 'dat';
  if (base.startsWith('u.') || base === 'u.data' || base.endsWith('.base') || base.endsWith('.test')) return '100k';
  if (base.endsWith('.csv')) return 'csv';
  return undefined;
}

const integer = /^\d+$/;

/**
 * Loads MovieLens ratings (user, movie, rating, Unix seconds) and, when given, the movies file:
 * titles as written ("Toy Story (1995)") and genres (as the item's category). A file that is not
 * in the layout its name implies is refused.
 */
export async function loadMovieLens(files: MovieLensFiles, options: LoadOptions = {}): Promise<InteractionLog> {
  expectArgs('loadMovieLens', { files }, 'object');
  expectArgs('loadMovieLens', { options }, 'options');
  const minRating = checkMinRating(options, 'movielens loader', true);
  const reports = new LoadReportBuilder(options.maxExamples);
  const builder = new InteractionLogBuilder(reports.report);
  const file = files.ratings;
  const layout = layoutOf(file);
  if (!layout) {
    throw new Error(`movielens loader: ${file} is not a MovieLens ratings file name (ratings.dat, u.data or ratings.csv)`);
  }
  const expected = {
    dat: 'UserID::MovieID::Rating::Timestamp',
    '100k': 'user<TAB>item<TAB>rating<TAB>timestamp',
    csv: 'a header userId,movieId,rating,timestamp, then rows',
  }[layout];
  let lines = 0;
  const ratings: FileParser = {
    line: (text, line) => {
      if (ratings.fatal !== undefined || text === '') return;
      lines++;
      if (layout === 'csv' && lines === 1) {
        if (!/^userId,movieId,rating,timestamp/.test(text)) {
          ratings.fatal = `movielens loader: ${file} starts with ${JSON.stringify(text.slice(0, 80))}; expected ${expected}`;
        }
        return;
      }
      const fields = layout === 'dat' ? text.split('::') : layout === '100k' ? text.split('\t') : text.split(',');
      if (lines === (layout === 'csv' ? 2 : 1) && (fields.length !== 4 || !integer.test(fields[0]!) || !integer.test(fields[1]!))) {
        ratings.fatal = `movielens loader: ${file} line ${line} is ${JSON.stringify(text.slice(0, 80))}; expected ${expected}`;
        return;
      }
      reports.report.rowsRead++;
      if (fields.length !== 4) return reports.malformed(file, line, `expected 4 fields, got ${fields.length}`, text);
      const [user, item, rating, time] = fields as [string, string, string, string];
      if (!integer.test(user) || !integer.test(item)) return reports.malformed(file, line, 'bad user or movie id', text);
      if (!integer.test(time.trim())) return reports.malformed(file, line, 'bad timestamp', text);
      const value = Number(rating);
      if (rating.trim() === '' || !Number.isFinite(value)) return reports.malformed(file, line, 'bad rating', text);
      if (!passesRating(reports, minRating, value, file, line, text)) return;
      builder.add(user, item, Number(time) * 1000);
    },
    end: () => {
      if (lines === 0 && ratings.fatal === undefined) ratings.fatal = `movielens loader: ${file} is empty`;
    },
  };
  await parseFile(file, ratings, reports, options, { latin1Fallback: true });
  builder.describeSource({ textFields: files.movies ? ['title', 'category'] : [] });
  if (files.movies) await readMovies(files.movies, files.genres, builder, reports, options);
  return builder.build();
}

async function readGenreNames(file: string, reports: LoadReportBuilder, options: LoadOptions): Promise<string[]> {
  const names: string[] = [];
  const parser: FileParser = {
    line: (text, line) => {
      if (text === '') return;
      const m = /^(.*)\|(\d+)$/.exec(text);
      if (!m) return malformedRow(reports, file)(line, 'expected name|index', text);
      names[Number(m[2])] = m[1]!;
    },
    end: () => {},
  };
  await parseFile(file, parser, reports, options, { latin1Fallback: true });
  return names;
}

async function readMovies(
  file: string,
  genresFile: string | undefined,
  builder: InteractionLogBuilder,
  reports: LoadReportBuilder,
  options: LoadOptions,
): Promise<void> {
  const layout = layoutOf(file);
  if (!layout) throw new Error(`movielens loader: ${file} is not a MovieLens movies file name (movies.dat, u.item or movies.csv)`);
  const genreNames = layout === '100k' && genresFile ? await readGenreNames(genresFile, reports, options) : movieLens100kGenres;
  let lines = 0;
  const parser: FileParser = {
    line: (text, line) => {
      if (parser.fatal !== undefined || text === '') return;
      lines++;
      if (layout === 'csv' && lines === 1) {
        if (!/^movieId,title,genres/.test(text)) {
          parser.fatal = `movielens loader: ${file} starts with ${JSON.stringify(text.slice(0, 80))}; expected the header movieId,title,genres`;
        }
        return;
      }
      let id: string;
      let title: string;
      let genres: string[];
      if (layout === 'dat') {
        const fields = text.split('::');
        if (fields.length !== 3) return malformedRow(reports, file)(line, 'expected MovieID::Title::Genres', text);
        [id, title] = fields as [string, string];
        genres = fields[2]!.split('|');
      } else if (layout === '100k') {
        const fields = text.split('|');
        if (fields.length !== 5 + genreNames.length) {
          return malformedRow(reports, file)(line, `expected ${5 + genreNames.length} '|'-separated fields, got ${fields.length}`, text);
        }
        [id, title] = fields as [string, string];
        genres = genreNames.filter((_, g) => fields[5 + g] === '1');
      } else {
        const fields = splitDelimited(text, ',');
        if (!fields || fields.length !== 3) return malformedRow(reports, file)(line, 'expected movieId,title,genres', text);
        [id, title] = fields as [string, string];
        genres = fields[2]!.split('|');
      }
      if (!integer.test(id)) {
        if (lines === 1) {
          parser.fatal = `movielens loader: ${file} line ${line} is ${JSON.stringify(text.slice(0, 80))}; not a MovieLens movies row`;
          return;
        }
        return malformedRow(reports, file)(line, 'bad movie id', text);
      }
      const item = builder.findItem(id);
      if (item === undefined) return reports.drop('movie row without ratings');
      builder.setText(item, title.trim());
      builder.setAttributes(item, { category: genres.filter((g) => g !== '' && g !== '(no genres listed)').join(', ') });
    },
    end: () => {},
  };
  await parseFile(file, parser, reports, options, { latin1Fallback: true });
}
