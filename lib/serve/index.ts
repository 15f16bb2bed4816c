export { Recommender, type Recommendation, type RecommendOptions, type RecommenderOptions } from './recommender.js';
export {
  registerRecommenderKind,
  recommenderKindOf,
  type RecommenderKindLoader,
  type LoadedRecommenderModel,
} from './kinds.js';
