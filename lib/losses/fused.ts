// The named losses that run on fused kernels (cross-entropy, sampled softmax, InfoNCE) or on
// GEMMs (uniformity), registered beside the elementwise ones.
import { infonce } from '../ops/infonce.js';
import { transpose } from '../ops/layout.js';
import { matmul } from '../ops/linalg.js';
import { crossEntropy, linearCrossEntropy, sampledSoftmaxLoss } from '../ops/loss.js';
import { Tensor } from '../tensor.js';
import { l2Normalize } from './functional.js';
import { registerLoss, requireInput } from './registry.js';
import { expectArgs } from '../guard.js';

/**
 * log mean_{i≠j} exp(−t·‖x_i − x_j‖²) over L2-normalised rows (Wang & Isola's uniformity):
 * with unit rows ‖x_i − x_j‖² = 2 − 2·x_i·x_j, so one B×B GEMM gives every pair. With
 * `{ log: false }` the mean itself (LLM-SRec's term: torch.pdist(x).pow(2).mul(-t).exp().mean()).
 */
export function uniformity(x: Tensor, t = 2, options: { log?: boolean } = {}): Tensor {
  expectArgs('uniformity', { x }, Tensor);
  expectArgs('uniformity', { t }, 'number');
  expectArgs('uniformity', { options }, 'options');
  if (x.ndim !== 2 || x.shape[0]! < 2)
    throw new Error(`uniformity: needs [B >= 2, d] rows, got [${x.shape.join(', ')}]`);
  const b = x.shape[0]!;
  const unit = l2Normalize(x);
  const kernel = matmul(unit, transpose(unit, 0, 1))
    .scale(2 * t)
    .add(-2 * t)
    .exp();
  // The diagonal contributes exp(0) = 1 per row; the mean is over the B·(B − 1) distinct pairs.
  const mean = kernel
    .sum()
    .add(-b)
    .scale(1 / (b * (b - 1)));
  return (options.log ?? true) ? mean.log() : mean;
}

registerLoss(
  'ce',
  (options = {}) => {
    const ignoreIndex = options.ignoreIndex as number | undefined;
    const labelSmoothing = options.labelSmoothing as number | undefined;
    return (inputs) => {
      const labels = requireInput(inputs, 'labels', 'ce');
      if (inputs.hidden && inputs.weight)
        return linearCrossEntropy(inputs.hidden, inputs.weight, labels, { ignoreIndex, labelSmoothing });
      return crossEntropy(requireInput(inputs, 'logits', 'ce'), labels, { ignoreIndex, labelSmoothing });
    };
  },
  'softmax cross-entropy: { logits, labels }, or { hidden, weight, labels } fused with the output projection',
);
registerLoss(
  'sampled-softmax',
  () => (inputs) =>
    sampledSoftmaxLoss(
      requireInput(inputs, 'positive', 'sampled-softmax'),
      requireInput(inputs, 'negatives', 'sampled-softmax'),
    ),
  'cross-entropy of each positive score [N] against its negatives [N, K]',
);
registerLoss(
  'infonce',
  (options = {}) => {
    const temperature = Number(options.temperature ?? 0.1);
    const normalize = options.normalize === undefined ? true : Boolean(options.normalize);
    const symmetric = Boolean(options.symmetric ?? false);
    return (inputs) =>
      infonce(requireInput(inputs, 'queries', 'infonce'), requireInput(inputs, 'keys', 'infonce'), {
        temperature,
        normalize,
        symmetric,
        extraNegatives: inputs.negatives,
        itemIds: inputs.itemIds,
      });
  },
  'contrastive loss of { queries, keys } (in-batch negatives, optional { negatives, itemIds }); options: temperature (0.1), normalize, symmetric',
);
registerLoss(
  'uniformity',
  (options = {}) => {
    const t = Number(options.t ?? 2);
    const log = options.log === undefined ? true : Boolean(options.log);
    return (inputs) => uniformity(requireInput(inputs, 'embeddings', 'uniformity'), t, { log });
  },
  'log mean exp(−t‖x−x′‖²) over L2-normalised { embeddings } rows; options: t (2), log (true; false: the mean, as LLM-SRec)',
);
