// Named sequential models, as the loss registry names losses: the CLI, the pipelines and
// Recommender.load pick a model by its name here, never by a switch on names.
//
//   registerModel({ name, summary, presets, defaultPreset, optimizer, configure, build })
//
// `configure` completes a preset (plus overrides) into the model's config for a catalogue of
// `numItems` items, validating it; `build` makes the module from such a config.
import type { Tensor } from '../tensor.js';
import { GRU4Rec, gru4recConfig, gru4recPresets, type GRU4RecConfig, type GRU4RecPreset } from './gru4rec.js';
import type { SequenceRecommender } from './recommender-model.js';
import { SASRec, sasrecConfig, sasrecPresets, type SASRecConfig, type SASRecPreset } from './sasrec.js';
import { expectArgs } from '../guard.js';

/** What every sequential model's config has; a frozen external item table when externalDim > 0. */
export interface SequenceModelConfig {
  numItems: number;
  maxlen: number;
  hidden: number;
  externalDim: number;
}

export interface ModelEntry<C extends SequenceModelConfig = SequenceModelConfig> {
  name: string;
  summary: string;
  /** Named configurations (papers.md), without numItems. */
  presets: Readonly<Record<string, Omit<C, 'numItems'>>>;
  defaultPreset: string;
  /** The optimiser its reference trains with: 'adam' (pmixer's SASRec) or 'adamw'. */
  optimizer: 'adam' | 'adamw';
  /** A preset completed for `numItems` items, with overrides, validated. */
  configure(numItems: number, preset: string, overrides?: Partial<C>): C;
  /** The module for `config` on `device`; `externalItems` [numItems + 1, externalDim] when externalDim > 0. */
  build(config: C, device: string, externalItems?: Tensor): SequenceRecommender;
}

const registry = new Map<string, ModelEntry>();

/** Adds a named model; names are unique. */
export function registerModel<C extends SequenceModelConfig>(entry: ModelEntry<C>): void {
  expectArgs('registerModel', { entry }, 'object');
  if (!/^[a-z][\w-]*$/.test(entry.name))
    throw new Error(`registerModel: '${entry.name}' is not a valid model name (lower-case, digits, - and _)`);
  if (registry.has(entry.name)) throw new Error(`registerModel: a model named '${entry.name}' is already registered`);
  if (!(entry.defaultPreset in entry.presets))
    throw new Error(`registerModel: ${entry.name}'s default preset '${entry.defaultPreset}' is not one of its presets`);
  registry.set(entry.name, entry as unknown as ModelEntry);
}

/** The registered model names, in registration order. */
export function modelNames(): string[] {
  return [...registry.keys()];
}

/** The entry of a registered model, or an Error that lists the registered ones. */
export function modelEntry(name: string): ModelEntry {
  const entry = registry.get(name);
  if (!entry) throw new Error(`model: unknown model '${name}'; registered: ${modelNames().join(', ')}`);
  return entry;
}

/** The config of model `name` from a preset (default: the model's own) and overrides. */
export function configureModel(
  name: string,
  numItems: number,
  preset?: string,
  overrides?: Partial<SequenceModelConfig>,
): SequenceModelConfig {
  const entry = modelEntry(name);
  const chosen = preset ?? entry.defaultPreset;
  if (!(chosen in entry.presets))
    throw new Error(`${name}: unknown preset '${chosen}'; presets: ${Object.keys(entry.presets).join(', ')}`);
  return entry.configure(numItems, chosen, overrides);
}

registerModel<SASRecConfig>({
  name: 'sasrec',
  summary: 'SASRec (pmixer): causal self-attention over the history, BCE with one negative',
  presets: sasrecPresets,
  defaultPreset: 'a-llmrec',
  optimizer: 'adam',
  configure: (numItems, preset, overrides) => sasrecConfig(numItems, preset as SASRecPreset, overrides),
  build: (config, device, externalItems) => new SASRec(config, { device, externalItems }),
});

registerModel<GRU4RecConfig>({
  name: 'gru4rec',
  summary: 'GRU4Rec: a stacked GRU over the history, softmax CE over all items',
  presets: gru4recPresets,
  defaultPreset: 'demo',
  optimizer: 'adamw',
  configure: (numItems, preset, overrides) => gru4recConfig(numItems, preset as GRU4RecPreset, overrides),
  build: (config, device, externalItems) => new GRU4Rec(config, { device, externalItems }),
});
