// The seqrec pipeline's config: a sequential model (SASRec, GRU4Rec, any registered model)
// trained and tested on one dataset, as `llmrec train <model>` runs it.
import { modelEntry, modelNames } from '../../models/registry.js';
import { defineConfig, type ConfigOf } from '../config.js';
import { commonConfig } from '../data.js';

export const seqrecConfig = defineConfig({
  ...commonConfig,
  model: { type: 'enum', choices: modelNames(), default: 'sasrec', help: 'the sequential model' },
  preset: {
    type: 'string',
    help: modelNames()
      .map(
        (name) =>
          `${name}: ${Object.keys(modelEntry(name).presets).join(' | ')} (default ${modelEntry(name).defaultPreset})`,
      )
      .join('; '),
  },
  epochs: { type: 'int', default: 20, min: 1, help: 'training epochs' },
  batchSize: { type: 'int', default: 128, min: 1, help: 'sequences per batch' },
  lr: { type: 'float', default: 1e-3, min: 0, help: 'learning rate' },
  seeds: { type: 'int', default: 1, min: 1, help: 'repeat with seeds seed, seed+1, ... and report mean ± std' },
  evalEvery: { type: 'int', default: 5, min: 1, help: 'validate every N epochs' },
  patience: { type: 'int', default: 0, min: 0, help: 'stop after N validations without improvement (0: never)' },
});

export type SeqrecConfig = ConfigOf<typeof seqrecConfig>;
