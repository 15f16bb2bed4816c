// Dense matrix products: the square 1024³ (4096³ bf16 on CUDA) reference point, the three
// Linear shapes of a Qwen2-0.5B layer over a 2048-token batch, and many small batched products
// (attention-sized), and bf16 products whose extents are not multiples of 8.
import { gemm, linear, matmul, randn, type DType, type Tensor } from '../lib/index.js';
import type { Benchmark } from './harness.js';

function product(
  name: string,
  devices: ('cpu' | 'cuda')[],
  dtype: DType,
  shapes: { a: number[]; b: number[]; flops: number; outElements: number },
  run: (a: Tensor, b: Tensor) => Tensor,
): Benchmark {
  const size = dtype === 'bf16' ? 2 : 4;
  const count = (s: number[]) => s.reduce((p, d) => p * d, 1);
  return {
    name,
    devices,
    setup(device) {
      const a = randn(shapes.a, { seed: 1, device, dtype });
      const b = randn(shapes.b, { seed: 2, device, dtype });
      let last: Tensor | undefined;
      return {
        run() {
          last?.dispose();
          last = run(a, b);
        },
        flops: shapes.flops,
        bytes: size * (count(shapes.a) + count(shapes.b) + shapes.outElements),
        dispose() {
          for (const t of [a, b, last]) t?.dispose();
        },
      };
    },
  };
}

const square = (n: number) => ({ a: [n, n], b: [n, n], flops: 2 * n ** 3, outElements: n * n });
// Linear: x [tokens, in] · weightᵀ, weight [out, in] (torch's layout).
const linearShape = (tokens: number, inF: number, outF: number) => ({
  a: [tokens, inF],
  b: [outF, inF],
  flops: 2 * tokens * inF * outF,
  outElements: tokens * outF,
});
const qwenLinears: [string, number, number][] = [
  ['attn-out', 896, 896],
  ['mlp-up', 896, 4864],
  ['mlp-down', 4864, 896],
];

export const benchmarks: Benchmark[] = [
  product('gemm/f32/1024x1024x1024', ['cpu', 'cuda'], 'f32', square(1024), (a, b) => gemm(a, b)),
  product('gemm/bf16/1024x1024x1024', ['cuda'], 'bf16', square(1024), (a, b) => gemm(a, b)),
  product('gemm/bf16/4096x4096x4096', ['cuda'], 'bf16', square(4096), (a, b) => gemm(a, b)),
  product('gemm/f32/4096x4096x4096', ['cuda'], 'f32', square(4096), (a, b) => gemm(a, b)),
  ...(['f32', 'bf16'] as DType[]).flatMap((dtype) =>
    qwenLinears.map(([what, inF, outF]) =>
      product(
        `linear/${dtype}/qwen2-0.5b-${what}-2048x${inF}->${outF}`,
        dtype === 'f32' ? ['cpu', 'cuda'] : ['cuda'],
        dtype,
        linearShape(2048, inF, outF),
        (x, w) => linear(x, w),
      ),
    ),
  ),
  // The `small` LM preset's projections over 1024 tokens (8 x 128): MLP up and the tied LM head,
  // and the MLP up projection with its bias and GELU fused into the GEMM's epilogue.
  ...(
    [
      ['lm-small-mlp-up', 256, 688],
      ['lm-small-head', 256, 4096],
    ] as [string, number, number][]
  ).map(([what, inF, outF]) =>
    product(`linear/f32/${what}-1024x${inF}->${outF}`, ['cpu'], 'f32', linearShape(1024, inF, outF), (x, w) =>
      linear(x, w),
    ),
  ),
  {
    name: 'linear+bias+gelu/f32/lm-small-mlp-up-1024x256->688',
    devices: ['cpu'],
    setup(device) {
      const bias = randn([688], { seed: 3, device });
      const c = product('', ['cpu'], 'f32', linearShape(1024, 256, 688), (x, w) => linear(x, w, bias, 'gelu')).setup(
        device,
      );
      return {
        ...c,
        dispose() {
          c.dispose();
          bias.dispose();
        },
      };
    },
  },
  // Extents that are not multiples of 8, which the cp.async tensor kernel cannot take (variant
  // tensor_unaligned): scoring 8192 SASRec states against MovieLens-1M's 3,706 items, and GPT-2's
  // LM head over its 50,257-token vocabulary.
  product('linear/bf16/items-8192x64->3706', ['cuda'], 'bf16', linearShape(8192, 64, 3706), (x, w) => linear(x, w)),
  product('linear/bf16/gpt2-head-2048x768->50257', ['cuda'], 'bf16', linearShape(2048, 768, 50257), (x, w) =>
    linear(x, w),
  ),
  product(
    'bmm/f32/64x(128x64x128)',
    ['cpu', 'cuda'],
    'f32',
    { a: [64, 128, 64], b: [64, 64, 128], flops: 2 * 64 * 128 * 64 * 128, outElements: 64 * 128 * 128 },
    (a, b) => matmul(a, b),
  ),
];
