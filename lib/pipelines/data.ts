// The dataset keys every pipeline config starts with, and the dataset they load. The files a
// dataset is read from are a stage input: they are hashed into the manifest.
import type { LoadedDataset } from '../data/source.js';
import { detectSource, embeddedSource, loadDataset, loadDefaultDataset, sourceFiles } from '../data/source.js';
import { defineConfig, type ConfigOf } from './config.js';

/** The keys of the dataset block (shared by every pipeline; spread it into a pipeline's schema). */
export const dataConfig = defineConfig({
  data: {
    type: 'string',
    help: 'dataset file (Online Retail CSV, RecBole .inter, Amazon JSONL, ...); default: embedded Online Retail 2010-2011',
    input: async (file: string | undefined) => sourceFiles(file ? await detectSource(file) : embeddedSource()),
  },
});

/** What every pipeline config has: the dataset block and the seed. */
export const commonConfig = defineConfig({
  ...dataConfig,
  seed: { type: 'int', default: 0, min: 0, help: 'random seed' },
});

export type CommonConfig = ConfigOf<typeof commonConfig>;

/** Loads the dataset a config names (the embedded one when none). */
export type DatasetLoader = (config: CommonConfig) => Promise<LoadedDataset>;

export const loadConfiguredDataset: DatasetLoader = async (config) =>
  config.data ? loadDataset(await detectSource(config.data)) : loadDefaultDataset();
