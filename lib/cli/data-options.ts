// The dataset flags of the commands that are not pipeline stages (eval, data, demo): the same
// keys as every pipeline's (lib/pipelines/data.ts, where they are declared once), parsed and
// loaded the same way, with the load's summary printed to stderr.
import { describeLoad, loadDatasetFromConfig, type LoadedDataset } from '../data/index.js';
import { ConfigError, flagsToKeys, resolveConfig, schemaOptions } from '../pipelines/config.js';
import { dataConfig, datasetConfigOf, type DataConfig } from '../pipelines/data.js';
import { UsageError } from './args.js';

/** The flags of the dataset keys (--data, --format, --kcore, --min-rating, --item-text, ...). */
export const dataOptions = schemaOptions(dataConfig);

/** A one-line progress display on a TTY (stderr), silent otherwise. */
function progress(): { update: (file: string, bytes: number) => void; done: () => void } | undefined {
  if (!process.stderr.isTTY) return undefined;
  let last = 0;
  return {
    update(file, bytes) {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      const name = file.split(/[\\/]/).pop();
      process.stderr.write(`\rreading ${name}: ${(bytes / 2 ** 20).toFixed(1)} MiB`);
    },
    done() {
      process.stderr.write('\r\u001b[K');
    },
  };
}

export interface LoadCliDataOptions {
  /** false: read the files even when a cache exists (data inspect). */
  cache?: false;
  /** Where the load summary goes (default: stderr, so stdout stays the command's output). */
  log?: (line: string) => void;
  /** Malformed rows kept as examples. */
  maxExamples?: number;
}

/**
 * Loads the dataset of a config's dataset keys with a progress display on a TTY, then prints
 * what was read, kept and dropped (describeLoad), a partial read's warning included. The
 * loader of every command and pipeline stage on the command line.
 */
export async function loadCliDataset(config: DataConfig, how: LoadCliDataOptions = {}): Promise<LoadedDataset> {
  const dataset = datasetConfigOf(config);
  if (how.cache === false) dataset.cache = false;
  const display = progress();
  let loaded: LoadedDataset;
  try {
    loaded = await loadDatasetFromConfig(dataset, {
      ...(display ? { onProgress: display.update } : {}),
      ...(how.maxExamples !== undefined ? { maxExamples: how.maxExamples } : {}),
    });
  } finally {
    display?.done();
  }
  const log = how.log ?? ((line: string) => console.error(line));
  for (const line of describeLoad(loaded)) log(line);
  return loaded;
}

/** The dataset keys from parsed flags (those given, over the defaults); usage errors for bad values. */
export function dataConfigFromFlags(
  options: Record<string, unknown>,
  given: ReadonlySet<string>,
  values: Partial<DataConfig> = {},
): DataConfig {
  try {
    return resolveConfig(dataConfig, { values, flags: flagsToKeys(dataConfig, options, given) });
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
}
