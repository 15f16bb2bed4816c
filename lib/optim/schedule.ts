// Learning-rate schedules as pure functions of the step, so a resumed run needs only the step
// count to be back on the same curve.
import type { Optimizer } from './optimizer.js';
import { expectArgs } from '../guard.js';

/** Maps a 0-based step to a factor of each group's base learning rate. */
export type LrLambda = (step: number) => number;

export interface WarmupDecayOptions {
  /** Steps of linear warm-up from 0 to the base rate. */
  warmupSteps?: number;
  /** The step at which the decay reaches `minFactor`. */
  totalSteps: number;
  /** The final factor of the base rate (default 0). */
  minFactor?: number;
}

function checkSchedule(name: string, { warmupSteps = 0, totalSteps, minFactor = 0 }: WarmupDecayOptions): void {
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0)
    throw new Error(`${name}: 'warmupSteps' must be a non-negative integer, got ${warmupSteps}`);
  if (!Number.isInteger(totalSteps) || totalSteps < 1 || totalSteps < warmupSteps)
    throw new Error(`${name}: 'totalSteps' must be an integer >= max(1, warmupSteps), got ${totalSteps}`);
  if (!(minFactor >= 0 && minFactor <= 1)) throw new Error(`${name}: 'minFactor' must be in [0, 1], got ${minFactor}`);
}

/** Linear warm-up to the base rate, then `decay(progress)` from 1 down to 0 over the remaining steps. */
function warmupThen(name: string, options: WarmupDecayOptions, decay: (progress: number) => number): LrLambda {
  checkSchedule(name, options);
  const { warmupSteps = 0, totalSteps, minFactor = 0 } = options;
  return (step) => {
    if (step < warmupSteps) return (step + 1) / warmupSteps;
    const progress = Math.min(1, (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
    return minFactor + (1 - minFactor) * decay(progress);
  };
}

/** Linear warm-up, then linear decay to minFactor (transformers' get_linear_schedule_with_warmup). */
export function linearWarmupDecay(options: WarmupDecayOptions): LrLambda {
  expectArgs('linearWarmupDecay', { options }, 'object');
  return warmupThen('linearWarmupDecay', options, (progress) => 1 - progress);
}

/** Linear warm-up, then a half-cosine from 1 down to minFactor (get_cosine_schedule_with_warmup). */
export function cosineWarmupDecay(options: WarmupDecayOptions): LrLambda {
  expectArgs('cosineWarmupDecay', { options }, 'object');
  return warmupThen('cosineWarmupDecay', options, (progress) => 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/** Applies an LrLambda to an optimiser: call step() once after each optimiser step. */
export class LrScheduler {
  /** Scheduler steps taken so far. */
  stepCount = 0;

  constructor(
    readonly optimizer: Optimizer,
    readonly lambda: LrLambda,
  ) {
    expectArgs('new LrScheduler', { optimizer }, 'object');
    expectArgs('new LrScheduler', { lambda }, 'function');
    this.apply();
  }

  step(): void {
    this.stepCount += 1;
    this.apply();
  }

  /** The factor in effect now. */
  get factor(): number {
    return this.lambda(this.stepCount);
  }

  stateDict(): { step: number } {
    return { step: this.stepCount };
  }

  loadStateDict(state: { step: number }): void {
    if (!Number.isInteger(state.step) || state.step < 0)
      throw new Error(`LrScheduler.loadStateDict: 'step' must be a non-negative integer, got ${state.step}`);
    this.stepCount = state.step;
    this.apply();
  }

  private apply(): void {
    const factor = this.lambda(this.stepCount);
    if (!Number.isFinite(factor) || factor < 0)
      throw new Error(
        `LrScheduler: the schedule returned ${factor} at step ${this.stepCount}; it must be a finite number >= 0`,
      );
    this.optimizer.scaleLearningRate(factor);
  }
}
