export { Recommender, type RecommenderOptions } from './recommender.js';
export {
  registerRecommenderKind,
  registerServableKind,
  recommenderKindOf,
  type RecommenderKindLoader,
  type LoadedRecommenderModel,
  type ServableKindLoader,
} from './kinds.js';
export {
  RequestError,
  type GeneratedRecommendation,
  type ItemId,
  type ModelFeatures,
  type ModelInfo,
  type NewItem,
  type Recommendation,
  type RecommendOptions,
  type ServableModel,
} from './servable.js';
export { MicroBatcher, type BatchingStats, type MicroBatcherOptions } from './batcher.js';
