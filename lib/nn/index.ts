export { Module, type LoadResult } from './module.js';
export * as init from './init.js';
export {
  Linear,
  Embedding,
  LayerNorm,
  RMSNorm,
  Dropout,
  MLP,
  MultiHeadAttention,
  TransformerBlock,
  GRU,
  activate,
  type ActivationName,
  type LayerOptions,
  type EmbeddingOptions,
  type MlpOptions,
  type TransformerBlockOptions,
  type AttentionCallOptions,
} from './layers.js';
