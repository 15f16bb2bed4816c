export * from './functional.js';
export * from './registry.js';
