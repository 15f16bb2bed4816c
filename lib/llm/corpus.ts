// Pretraining text for `llmrec lm pretrain`: WordNet 3.0's glosses and example sentences (the
// Debian package wordnet-base), the item titles of the embedded Online Retail catalogues, and
// plain text files. Each source yields documents; the trainer joins them with EOS tokens.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { embeddedSource, type EmbeddedPeriod } from '../data/source.js';
import { readDecompressedSync } from '../data/text.js';

/** Where Debian's wordnet-base installs the WordNet 3.0 database. */
export const WORDNET_DIR = '/usr/share/wordnet';

/** The four part-of-speech data files, in WordNet's order. */
export const WORDNET_DATA_FILES = ['data.noun', 'data.verb', 'data.adj', 'data.adv'] as const;

/** One synset: its words (underscores as spaces, adjective markers dropped), definition and examples. */
export interface WordNetSynset {
  offset: string;
  pos: string;
  words: string[];
  definition: string;
  examples: string[];
}

/**
 * Parses one line of a WordNet data.* file (wndb(5)): `offset lex_filenum ss_type w_cnt word
 * lex_id ... p_cnt pointers... [frames...] | gloss`. w_cnt is two hex digits; the gloss is the
 * definition(s) followed by quoted example sentences separated by '; '. Returns null for the
 * licence header (lines starting with two spaces); throws on a malformed line.
 */
export function parseWordNetLine(line: string): WordNetSynset | null {
  if (line.startsWith('  ') || line.trim() === '') return null;
  const bar = line.indexOf(' | ');
  if (bar < 0) throw new Error('no " | " before the gloss');
  const fields = line.slice(0, bar).split(' ');
  const [offset, , pos, countHex] = fields;
  const count = parseInt(countHex ?? '', 16);
  if (!/^\d{8}$/.test(offset ?? '') || !pos || !Number.isInteger(count) || fields.length < 4 + 2 * count)
    throw new Error('the synset header is not "offset lex_filenum ss_type w_cnt word lex_id ..."');
  const words: string[] = [];
  for (let i = 0; i < count; i++) words.push(fields[4 + 2 * i]!.replace(/\((a|p|ip)\)$/, '').replace(/_/g, ' '));
  const gloss = line.slice(bar + 3).trim();
  const examples = [...gloss.matchAll(/"([^"]+)"/g)].map((m) => m[1]!.trim()).filter((s) => s.length > 0);
  const quote = gloss.indexOf('"');
  const definition = (quote < 0 ? gloss : gloss.slice(0, quote))
    .trim()
    .replace(/[;:\s]+$/, '')
    .trim();
  return { offset: offset!, pos, words, definition, examples };
}

/** Every synset of the four data files under `dir`; a missing file names the package that provides it. */
export function readWordNet(dir: string = WORDNET_DIR): WordNetSynset[] {
  const synsets: WordNetSynset[] = [];
  for (const name of WORDNET_DATA_FILES) {
    const file = path.join(dir, name);
    if (!existsSync(file))
      throw new Error(
        `WordNet: ${file} does not exist; it comes with the Debian package wordnet-base (apt-get install wordnet-base)`,
      );
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        try {
          const synset = parseWordNetLine(line);
          if (synset) synsets.push(synset);
        } catch (error) {
          throw new Error(`WordNet: ${file}:${i + 1}: ${(error as Error).message}`, { cause: error });
        }
      });
  }
  return synsets;
}

/**
 * WordNet as documents: one gloss per synset, "lantern, lanthorn: light in a transparent
 * protective case", then each example sentence on its own.
 */
export function wordNetDocuments(dir: string = WORDNET_DIR): string[] {
  const documents: string[] = [];
  for (const synset of readWordNet(dir)) {
    if (synset.definition) documents.push(`${synset.words.join(', ')}: ${synset.definition}`);
    documents.push(...synset.examples);
  }
  return documents;
}

/** The titles of an embedded catalogue (data/online-retail-<period>.item.gz), in file order. */
export function embeddedItemTitles(period: EmbeddedPeriod): string[] {
  const source = embeddedSource(period);
  if (source.kind !== 'recbole' || !source.item) throw new Error(`corpus: the embedded ${period} set has no item file`);
  const file = source.item;
  const [header, ...rows] = readDecompressedSync(file).toString('utf8').split('\n');
  const column = (header ?? '').split('\t').findIndex((name) => name.startsWith('title:'));
  if (column < 0) throw new Error(`corpus: ${file} has no title column`);
  return rows.map((row) => row.split('\t')[column]?.trim() ?? '').filter((title) => title.length > 0);
}

/**
 * The distinct titles of both embedded Online Retail catalogues, each as written (upper case)
 * and in lower case, so the model ties the catalogue's spelling to the words WordNet defines.
 */
export function retailDocuments(): string[] {
  const titles = new Set([...embeddedItemTitles('2010-2011'), ...embeddedItemTitles('2009-2010')]);
  return [...titles].flatMap((title) => [title, title.toLowerCase()]);
}

/** A plain text file: one document per non-empty line. */
export function textFileDocuments(file: string): string[] {
  if (!existsSync(file)) throw new Error(`corpus: ${file} does not exist`);
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
}

export interface CorpusPart {
  /** 'wordnet', 'retail' or the file's path. */
  source: string;
  documents: string[];
}

/** The documents of each source: 'wordnet', 'retail', or a path to a text file. */
export function readCorpus(sources: readonly string[], wordnetDir: string = WORDNET_DIR): CorpusPart[] {
  if (sources.length === 0) throw new Error('corpus: no sources given (wordnet, retail or text files)');
  return sources.map((source) => ({
    source,
    documents:
      source === 'wordnet'
        ? wordNetDocuments(wordnetDir)
        : source === 'retail'
          ? retailDocuments()
          : textFileDocuments(source),
  }));
}
