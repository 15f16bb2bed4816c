// The kernel variant tables (native/core/kernel_variants.cc): each family with more than one
// CUDA implementation lists its variants once, the reference first. LLMREC_KERNEL_<FAMILY>=name
// selects one for the process (read once, at the family's first launch); setKernelVariant()
// changes the selection at run time, for the GPU suite (test/kernel-variants.test.ts) and for
// `npm run bench -- --variants`.
import { native } from './binding.js';

export interface KernelVariantFamily {
  family: string;
  /** Every variant, the reference first. */
  variants: string[];
  reference: string;
  /** What the launcher picks when no variant is selected. */
  defaultRule: string;
  /** The selected variant, or null for the launcher's default. */
  selected: string | null;
}

declare module './binding.js' {
  interface NativeAddon {
    kernelVariants(): KernelVariantFamily[];
    setKernelVariant(family: string, name: string | null): void;
  }
}

export function kernelVariants(): KernelVariantFamily[] {
  return native.kernelVariants();
}

/** Selects `name` for every later launch of `family` in this process; null restores the default. */
export function setKernelVariant(family: string, name: string | null): void {
  native.setKernelVariant(family, name);
}

/** Runs fn with `name` selected for `family`, then restores the previous selection. */
export function withKernelVariant<T>(family: string, name: string | null, fn: () => T): T {
  const previous = kernelVariants().find((f) => f.family === family)?.selected ?? null;
  setKernelVariant(family, name);
  try {
    return fn();
  } finally {
    setKernelVariant(family, previous);
  }
}
