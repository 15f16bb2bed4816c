export * from './recommender-model.js';
export * from './sasrec.js';
export * from './gru4rec.js';
export * from './registry.js';
export * from './factory.js';
export * from './popularity.js';
