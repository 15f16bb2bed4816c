export { Module, type LoadResult } from './module.js';
export * as init from './init.js';
