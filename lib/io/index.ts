export * from './safetensors.js';
export { writeFileAtomic, writeFileAtomicSync } from './atomic.js';
