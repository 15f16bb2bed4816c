// `import { createServer } from 'llmrec/serve'`: the HTTP service as a library. A subpath of its
// own, so that applications which only use the Recommender do not load fastify.
export { createServer, RecommendationServer, type ModelLoader, type ServeOptions } from './server.js';
export { metricHelp, ServerMetrics } from './metrics.js';
export { ModelSlot, ReloadRefusedError, runFolderFingerprint, type ReloadResult } from './model-slot.js';
