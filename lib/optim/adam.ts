// Adam and AdamW on the fused native kernel: one pass per parameter reads w, g, m, v and writes
// them back. bf16 parameters keep f32 master weights, so updates smaller than bf16's resolution
// still accumulate. Clipping, when asked for, is fused: the kernel reads the clip factor from
// device memory.
import { native } from '../binding.js';
import { noGrad } from '../autograd.js';
import { keep } from '../scope.js';
import { Tensor, zeros } from '../tensor.js';
import { gradNorm } from './clip.js';
import { Optimizer, type GroupOptions, type ParamsInput } from './optimizer.js';
import './native.js';

export interface AdamOptions extends GroupOptions {
  betas: [number, number];
  eps: number;
  /** Clip the global gradient norm (over all groups) to this value before the update. */
  maxGradNorm: number;
}

const DEFAULTS: AdamOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, maxGradNorm: Infinity };

class AdamBase extends Optimizer<AdamOptions> {
  /** The gradient norm before clipping at the last step (when maxGradNorm is set): read it to log. */
  lastGradNorm: Tensor | null = null;

  constructor(
    params: ParamsInput<AdamOptions>,
    options: Partial<AdamOptions>,
    private readonly decoupled: boolean,
    name: string,
  ) {
    super(name, params, { ...DEFAULTS, weightDecay: decoupled ? 1e-2 : 0, ...options });
  }

  protected validate(o: AdamOptions, group: number): void {
    const at = `${this.name}: group ${group}:`;
    if (!(o.lr >= 0) || !Number.isFinite(o.lr)) throw new Error(`${at} 'lr' must be a finite number >= 0, got ${o.lr}`);
    if (!Array.isArray(o.betas) || o.betas.length !== 2 || o.betas.some((b) => !(b >= 0 && b < 1)))
      throw new Error(`${at} 'betas' must be two numbers in [0, 1), got ${JSON.stringify(o.betas)}`);
    if (!(o.eps > 0)) throw new Error(`${at} 'eps' must be > 0, got ${o.eps}`);
    if (!(o.weightDecay >= 0)) throw new Error(`${at} 'weightDecay' must be >= 0, got ${o.weightDecay}`);
    if (!(o.maxGradNorm > 0))
      throw new Error(`${at} 'maxGradNorm' must be > 0 (Infinity turns clipping off), got ${o.maxGradNorm}`);
  }

  step(): void {
    const maxNorm = Math.min(...this.paramGroups.map((g) => g.options.maxGradNorm));
    this.lastGradNorm?.dispose();
    this.lastGradNorm = null;
    const clip = Number.isFinite(maxNorm) ? gradNorm(this.params, maxNorm) : null;
    this.stepCount += 1;
    try {
      noGrad(() => {
        for (const group of this.paramGroups) {
          const live = group.params.filter((p) => p.grad !== null);
          if (live.length === 0) continue;
          const slots = live.map((p) => this.slot(p));
          const o = group.options;
          native.adamStep(
            live.map((p) => p.native),
            live.map((p) => p.grad!.native),
            slots.map((s) => s.get('expAvg')!.native),
            slots.map((s) => s.get('expAvgSq')!.native),
            slots.map((s) => s.get('master')?.native ?? null),
            clip?.scale.native ?? null,
            {
              lr: o.lr,
              beta1: o.betas[0],
              beta2: o.betas[1],
              eps: o.eps,
              weightDecay: o.weightDecay,
              step: this.stepCount,
              decoupled: this.decoupled,
            },
          );
        }
      });
    } catch (error) {
      this.stepCount -= 1; // the native op checks everything before it updates anything
      clip?.totalNorm.dispose();
      throw error;
    } finally {
      clip?.scale.dispose();
    }
    this.lastGradNorm = clip?.totalNorm ?? null;
  }

  private slot(p: Tensor): Map<string, Tensor> {
    let slot = this.state.get(p);
    if (!slot) {
      slot = new Map([
        ['expAvg', keep(zeros(p.shape, { device: p.device }))],
        ['expAvgSq', keep(zeros(p.shape, { device: p.device }))],
      ]);
      if (p.dtype === 'bf16') slot.set('master', keep(noGrad(() => p.cast('f32'))));
      this.state.set(p, slot);
    }
    return slot;
  }

  override dispose(): void {
    this.lastGradNorm?.dispose();
    this.lastGradNorm = null;
    super.dispose();
  }
}

/** Adam with L2 regularisation folded into the gradient (torch.optim.Adam). */
export class Adam extends AdamBase {
  constructor(params: ParamsInput<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super(params, options, false, 'Adam');
  }
}

/** Adam with decoupled weight decay (torch.optim.AdamW; weight decay defaults to 0.01). */
export class AdamW extends AdamBase {
  constructor(params: ParamsInput<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super(params, options, true, 'AdamW');
  }
}
