// The fused MLP distillation op, forward + backward, at the MLP shapes of LLM-SRec (f_CF-user,
// f_user: LN, activation, normalised MSE against a trainable teacher branch) and A-LLMRec (the
// sigmoid autoencoders with MSE, the LN + LeakyReLU projector), against PyTorch eager
// (bench/torch/mlp_distill.py: F.linear → layer_norm → activation → F.linear → loss, backward).
// B = 512 on the CPU, 4096 on CUDA. FLOPs count the six GEMMs (2·B·(in·h + h·out) each pass).
import { mlpDistill, randn, type DistillActivation, type DistillLoss, type DType, type Tensor } from '../lib/index.js';
import type { Benchmark } from './harness.js';

interface Shape {
  name: string;
  inDim: number;
  hidden: number;
  out: number;
  layerNorm: boolean;
  activation: DistillActivation;
  loss: DistillLoss;
  teacherTrainable: boolean;
}

export const distillShapes: Shape[] = [
  {
    name: 'f_cf_user',
    inDim: 64,
    hidden: 128,
    out: 128,
    layerNorm: true,
    activation: 'gelu',
    loss: 'normalized_mse',
    teacherTrainable: true,
  },
  {
    name: 'f_user',
    inDim: 3072,
    hidden: 2048,
    out: 128,
    layerNorm: true,
    activation: 'leaky_relu',
    loss: 'normalized_mse',
    teacherTrainable: true,
  },
  {
    name: 'item_ae',
    inDim: 50,
    hidden: 128,
    out: 50,
    layerNorm: false,
    activation: 'sigmoid',
    loss: 'mse',
    teacherTrainable: false,
  },
  {
    name: 'text_ae',
    inDim: 768,
    hidden: 128,
    out: 768,
    layerNorm: false,
    activation: 'sigmoid',
    loss: 'mse',
    teacherTrainable: false,
  },
  {
    name: 'projector',
    inDim: 50,
    hidden: 4096,
    out: 4096,
    layerNorm: true,
    activation: 'leaky_relu',
    loss: 'mse',
    teacherTrainable: false,
  },
];

function distill(s: Shape, batch: number, dtype: DType, devices: ('cpu' | 'cuda')[]): Benchmark {
  return {
    name: `mlp-distill/${dtype}/${s.name}/${batch}x${s.inDim}x${s.hidden}x${s.out}/fwd+bwd`,
    devices,
    setup(device) {
      const opts = (seed: number, std = 1) => ({ seed, device, dtype, std, requiresGrad: true });
      const x = randn([batch, s.inDim], opts(1));
      const w1 = randn([s.hidden, s.inDim], opts(2, 1 / Math.sqrt(s.inDim)));
      const b1 = randn([s.hidden], opts(3, 0.1));
      const w2 = randn([s.out, s.hidden], opts(4, 1 / Math.sqrt(s.hidden)));
      const b2 = randn([s.out], opts(5, 0.1));
      const teacher = randn([batch, s.out], { seed: 6, device, dtype, requiresGrad: s.teacherTrainable });
      const lnWeight = randn([s.hidden], { ...opts(7, 0.1), mean: 1 });
      const lnBias = randn([s.hidden], opts(8, 0.1));
      const params = [x, w1, b1, w2, b2, teacher, lnWeight, lnBias];
      let last: Tensor | undefined;
      const macs = batch * (s.inDim * s.hidden + s.hidden * s.out);
      const elementBytes = dtype === 'bf16' ? 2 : 4;
      return {
        run() {
          last?.dispose();
          for (const t of params) t.zeroGrad();
          last = mlpDistill(x, w1, b1, w2, b2, teacher, {
            activation: s.activation,
            loss: s.loss,
            teacherTrainable: s.teacherTrainable,
            layerNorm: s.layerNorm ? { weight: lnWeight, bias: lnBias } : undefined,
          });
          last.backward();
        },
        flops: 6 * macs,
        // Read x, the weights and the teacher; write their gradients.
        bytes: elementBytes * 2 * (batch * s.inDim + s.hidden * s.inDim + s.out * s.hidden + batch * s.out),
        dispose() {
          last?.dispose();
          for (const t of params) {
            t.zeroGrad();
            t.dispose();
          }
        },
      };
    },
  };
}

export const benchmarks: Benchmark[] = [
  ...distillShapes.map((s) => distill(s, 512, 'f32', ['cpu'])),
  ...distillShapes.map((s) => distill(s, 4096, 'f32', ['cuda'])),
  ...distillShapes.map((s) => distill(s, 4096, 'bf16', ['cuda'])),
];
