export { train, type TrainerConfig, type TrainResult, type EpochRecord, type EarlyStopping } from './trainer.js';
export * from './checkpoint.js';
export { barSink, jsonLinesSink, defaultSink, silentSink, type ProgressSink, type ProgressEvent } from './progress.js';
