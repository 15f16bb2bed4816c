// A-LLMRec's trainable modules (papers.md, "A-LLMRec"), as the reference code builds them:
//   stage 1: an item autoencoder (d_CF → latent → d_CF) and a text autoencoder (d_text → latent →
//   d_text), each `fc1 → sigmoid` (the latent) then `fc2` (the reconstruction);
//   stage 2: F_U (d_CF → d_LM, LayerNorm, LeakyReLU, d_LM → d_LM) for the SASRec user
//   representation and F_I (latent → d_LM, LayerNorm, GELU, d_LM → d_LM) for item latents.
import { Linear, MLP } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { bceWithLogits } from '../../ops/loss.js';
import { mse } from '../../losses/functional.js';
import { full, Tensor } from '../../tensor.js';

/** `fc1 → sigmoid` is the latent; `fc2` of the latent is the reconstruction (two_layer_mlp). */
export class Autoencoder extends Module {
  declare readonly fc1: Linear;
  declare readonly fc2: Linear;
  constructor(
    readonly inputDim: number,
    readonly latentDim: number,
    options: { device?: string } = {},
  ) {
    super();
    this.registerModule('fc1', new Linear(inputDim, latentDim, options));
    this.registerModule('fc2', new Linear(latentDim, inputDim, options));
  }

  encode(x: Tensor): Tensor {
    return this.fc1.forward(x, 'sigmoid');
  }

  forward(x: Tensor): { latent: Tensor; recon: Tensor } {
    const latent = this.encode(x);
    return { latent, recon: this.fc2.forward(latent) };
  }
}

/** Stage 1's two autoencoders; `item` maps SASRec item embeddings, `text` the item-text embeddings. */
export class ItemTextAligner extends Module {
  declare readonly item: Autoencoder;
  declare readonly text: Autoencoder;
  constructor(
    readonly cfDim: number,
    readonly textDim: number,
    readonly latentDim: number,
    options: { device?: string } = {},
  ) {
    super();
    this.registerModule('item', new Autoencoder(cfDim, latentDim, options));
    this.registerModule('text', new Autoencoder(textDim, latentDim, options));
  }
}

/** One stage-1 batch: the last training position of each user, with one negative. */
export interface AlignmentBatch {
  /** SASRec user representations [B, d_CF] (frozen). */
  user: Tensor;
  /** SASRec item embeddings of the positive and the negative item [B, d_CF] (frozen). */
  positiveItem: Tensor;
  negativeItem: Tensor;
  /** Text embeddings of the same items [B, d_text] (differentiable when the text encoder is tuned; detached as reconstruction targets). */
  positiveText: Tensor;
  negativeText: Tensor;
}

export interface AlignmentLossWeights {
  /** β on L_item-recon (0.5). */
  itemRecon: number;
  /** The weight on L_text-recon (0.2). */
  textRecon: number;
}

export interface AlignmentLoss {
  total: Tensor;
  /** L_rec: BCE of mean(user ⊙ dec(enc(E_pos))) against 1, plus the negative's against 0. */
  rec: Tensor;
  /** L_matching: MSE(e, q) for the positive plus the negative. */
  matching: Tensor;
  itemRecon: Tensor;
  textRecon: Tensor;
}

/**
 * Stage 1's loss, term by term as the reference code computes it: every MSE and BCE is a mean
 * (over elements, over rows), and the recommendation score averages over dimensions rather than
 * summing (the paper writes a dot product).
 */
export function alignmentLoss(
  aligner: ItemTextAligner,
  batch: AlignmentBatch,
  weights: AlignmentLossWeights,
): AlignmentLoss {
  if (!(aligner instanceof ItemTextAligner)) throw new Error('alignmentLoss: aligner must be an ItemTextAligner');
  const names = ['user', 'positiveItem', 'negativeItem', 'positiveText', 'negativeText'] as const;
  for (const name of names)
    if (!(batch?.[name] instanceof Tensor) || batch[name].ndim !== 2)
      throw new Error(`alignmentLoss: batch.${name} must be a 2-D tensor [rows, dim]`);
  if (!(weights && Number.isFinite(weights.itemRecon) && Number.isFinite(weights.textRecon)))
    throw new Error('alignmentLoss: weights must be { itemRecon, textRecon } numbers');
  const rows = batch.user.shape[0]!;
  const pos = aligner.item.forward(batch.positiveItem);
  const neg = aligner.item.forward(batch.negativeItem);
  // The text inputs pass gradients into a fine-tuned text encoder; as reconstruction targets
  // they are detached (the reference code's `.data`).
  const posText = aligner.text.forward(batch.positiveText);
  const negText = aligner.text.forward(batch.negativeText);
  const device = batch.user.device;
  const score = (recon: Tensor) => batch.user.mul(recon).mean(1);
  const rec = bceWithLogits(score(pos.recon), full([rows], 1, { device })).add(
    bceWithLogits(score(neg.recon), full([rows], 0, { device })),
  );
  const matching = mse(pos.latent, posText.latent).add(mse(neg.latent, negText.latent));
  const itemRecon = mse(pos.recon, batch.positiveItem).add(mse(neg.recon, batch.negativeItem));
  const textRecon = mse(posText.recon, batch.positiveText.detach()).add(
    mse(negText.recon, batch.negativeText.detach()),
  );
  const total = rec.add(matching).add(itemRecon.scale(weights.itemRecon)).add(textRecon.scale(weights.textRecon));
  return { total, rec, matching, itemRecon, textRecon };
}

/** Stage 2's projectors into the LM's input space. */
export class SoftPromptProjectors extends Module {
  /** F_U: the SASRec user representation → one soft token. */
  declare readonly user: MLP;
  /** F_I: an item's joint latent → the soft token after its title. */
  declare readonly item: MLP;
  constructor(
    readonly cfDim: number,
    readonly latentDim: number,
    readonly lmDim: number,
    options: { device?: string } = {},
  ) {
    super();
    this.registerModule(
      'user',
      new MLP([cfDim, lmDim, lmDim], { ...options, layerNorm: true, activation: 'leaky_relu' }),
    );
    this.registerModule(
      'item',
      new MLP([latentDim, lmDim, lmDim], { ...options, layerNorm: true, activation: 'gelu' }),
    );
  }
}
