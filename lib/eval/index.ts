// Evaluation: ranking metrics (full and sampled), Hit@1 of generated titles, seeds, reports.
export * from './metrics.js';
export * from './report.js';
export * from './protocol.js';
