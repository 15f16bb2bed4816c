// Data: loaders (Online Retail, Amazon Reviews 2014/2018/2023, RecBole atomic files and sequence
// splits, MovieLens, generic tables), format detection, preprocessing, the binary cache, the
// embedded default dataset and seeded samplers.
export * from './rng.js';
export { type LoadReport, type MalformedRow, DataFormatError, readDecompressedSync, stripCompression } from './text.js';
export { type InteractionLog, type TimeFormat, filterLogRows, parseDateTime, parseTime } from './log.js';
export * from './loaders.js';
export * from './amazon.js';
export * from './movielens.js';
export * from './sequence-split.js';
export * from './pyliteral.js';
export * from './formats.js';
export * from './dataset.js';
export * from './cache.js';
export * from './source.js';
export * from './config.js';
export * from './sampler.js';
