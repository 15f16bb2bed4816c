export { Recommender, type Recommendation, type RecommendOptions, type RecommenderOptions } from './recommender.js';
