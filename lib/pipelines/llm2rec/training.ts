// The optimiser loop of the three LM stages (CSFT, MNTP, SimCSE): a fixed number of AdamW steps
// with linear warm-up then linear decay, on llmrec's trainer. Each step's batch is a pure function
// of (seed, step), so a run resumed from a mid-stage checkpoint draws exactly the batches (and,
// through the trainer's saved generator state, the dropout masks) it would have drawn.
import type { Module } from '../../nn/module.js';
import { AdamW } from '../../optim/adam.js';
import { LrScheduler, linearWarmupDecay } from '../../optim/schedule.js';
import type { Tensor } from '../../tensor.js';
import { train } from '../../train/trainer.js';
import type { StageContext } from '../stage.js';

export interface StepTrainingOptions<B> {
  /** Names the stage in messages ('CSFT'). */
  what: string;
  model: Module;
  steps: number;
  lr: number;
  warmup: number;
  weightDecay?: number;
  /** Clip the global gradient norm to this (0 or absent: no clipping). */
  clipNorm?: number;
  /** Save a checkpoint every N steps (the end is always saved). */
  checkpointEvery: number;
  /** The batch of a step: must depend only on the step (and the stage's seed). */
  batch: (step: number) => B;
  /** The loss of a batch, and how many tokens it processed (for throughput). */
  loss: (batch: B) => { loss: Tensor; tokens: number };
}

export interface StepTrainingResult {
  steps: number;
  /** Mean loss over every step of the stage (over the resumed part too). */
  meanLoss: number;
  /** Mean loss of the last steps run in this process (up to 10). */
  finalLoss: number;
  seconds: number;
  /** Tokens through forward and backward per second, in this process. */
  tokensPerSecond: number;
}

/** Trains `model` for `steps` AdamW steps; throws when the loss or a gradient is not finite. */
export async function trainForSteps<B>(
  ctx: StageContext<unknown>,
  o: StepTrainingOptions<B>,
): Promise<StepTrainingResult> {
  const optimizer = new AdamW(
    o.model.parameters().filter((p) => p.requiresGrad),
    {
      lr: o.lr,
      weightDecay: o.weightDecay ?? 0,
      maxGradNorm: o.clipNorm ? o.clipNorm : Infinity,
    },
  );
  const scheduler = new LrScheduler(
    optimizer,
    linearWarmupDecay({ warmupSteps: Math.min(o.warmup, o.steps), totalSteps: o.steps }),
  );
  const recent: number[] = [];
  let tokens = 0;
  const started = performance.now();
  try {
    const result = await train<number>({
      model: o.model,
      optimizer,
      scheduler,
      batches: function* () {
        for (let step = 0; step < o.steps; step++) yield step;
      },
      batchesPerEpoch: o.steps,
      loss: (step) => {
        const { loss, tokens: n } = o.loss(o.batch(step));
        tokens += n;
        recent.push(loss.item());
        if (recent.length > 10) recent.shift();
        return loss;
      },
      epochs: 1,
      seed: ctx.seed,
      checkpoint: { dir: ctx.checkpoints, everySteps: o.checkpointEvery, keep: 2 },
      resume: ctx.resume,
      progress: ctx.progress,
    });
    if (result.stopReason === 'non-finite')
      throw new Error(`${o.what} diverged (${result.nonFinite}); nothing was saved: try a lower learning rate`);
    const seconds = (performance.now() - started) / 1000;
    return {
      steps: result.steps,
      meanLoss: result.history[result.history.length - 1]?.loss ?? NaN,
      finalLoss: recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : NaN,
      seconds,
      tokensPerSecond: seconds > 0 ? tokens / seconds : 0,
    };
  } finally {
    optimizer.dispose();
  }
}
