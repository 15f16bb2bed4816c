// Data: loaders (Online Retail, Amazon Reviews 2023, RecBole, generic tables), preprocessing,
// the binary cache, the embedded default dataset and seeded samplers.
export * from './rng.js';
export { type LoadReport, type MalformedRow, readDecompressedSync, stripCompression } from './text.js';
export { type InteractionLog, type TimeFormat, parseDateTime, parseTime } from './log.js';
export * from './loaders.js';
export * from './dataset.js';
export * from './cache.js';
export * from './source.js';
export * from './sampler.js';
