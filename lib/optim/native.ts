// Raw signatures of the optimiser family's bindings (native/addon/optim.cc).

export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step count, for the bias corrections. */
  step: number;
  /** true: AdamW's decoupled decay; false: Adam's L2 term added to the gradient. */
  decoupled: boolean;
}

declare module '../binding.js' {
  interface NativeAddon {
    adamStep(
      params: NativeTensor[],
      grads: NativeTensor[],
      expAvg: NativeTensor[],
      expAvgSq: NativeTensor[],
      masters: (NativeTensor | null)[],
      gradScale: NativeTensor | null,
      hyper: AdamHyper,
    ): void;
    squaredNorms(tensors: NativeTensor[]): NativeTensor;
  }
}
