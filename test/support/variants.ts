// Test helpers over the kernel variant tables (lib/kernel-variants.ts).
export { kernelVariants, withKernelVariant } from '../../lib/kernel-variants.js';
