export * from './functional.js';
export * from './registry.js';
export { uniformity } from './fused.js';
