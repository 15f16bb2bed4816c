// Micro-batching for serving: calls submitted one by one are gathered and run together, because
// one forward pass over 64 users costs little more than one over a single user. A batch starts
// when it is full, when its first call has waited `maxWaitMs`, or at once (next tick) when
// `maxWaitMs` is 0; calls that arrive while a batch runs form the next one without waiting, since
// they have already waited for the running batch.
import { expectArgs } from '../guard.js';

export interface MicroBatcherOptions<Request, Result> {
  /** Calls per batch. */
  maxBatch: number;
  /** How long the first call of a batch may wait for others to join it (0: only this tick's calls). */
  maxWaitMs: number;
  /** Runs one batch; returns one result per request, in order. Throwing fails every call of the batch. */
  run(batch: Request[]): Promise<Result[]>;
}

interface Waiting<Request, Result> {
  request: Request;
  resolve: (result: Result) => void;
  reject: (error: Error) => void;
}

/** The batcher's state as metrics see it. */
export interface BatchingStats {
  /** Calls submitted and not yet in a running batch. */
  readonly pending: number;
  /** Calls in the batch running now. */
  readonly running: number;
  /** Calls `listener` with the size of each batch as it starts; returns the unsubscribe function. */
  onBatch(listener: (size: number) => void): () => void;
}

export class MicroBatcher<Request, Result> implements BatchingStats {
  readonly maxBatch: number;
  readonly maxWaitMs: number;
  private readonly runBatch: (batch: Request[]) => Promise<Result[]>;
  private queue: Waiting<Request, Result>[] = [];
  private inBatch = 0;
  private flushing = false;
  private waitTimer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(size: number) => void>();
  private idleWaiters: (() => void)[] = [];

  constructor(options: MicroBatcherOptions<Request, Result>) {
    expectArgs('new MicroBatcher', { options }, 'object');
    const { maxBatch, maxWaitMs } = options;
    if (!Number.isInteger(maxBatch) || maxBatch < 1)
      throw new Error(`MicroBatcher: 'maxBatch' must be a positive integer, got ${String(maxBatch)}`);
    if (typeof maxWaitMs !== 'number' || !Number.isFinite(maxWaitMs) || maxWaitMs < 0)
      throw new Error(`MicroBatcher: 'maxWaitMs' must be a finite number >= 0, got ${String(maxWaitMs)}`);
    this.maxBatch = maxBatch;
    this.maxWaitMs = maxWaitMs;
    this.runBatch = options.run;
  }

  get pending(): number {
    return this.queue.length;
  }

  get running(): number {
    return this.inBatch;
  }

  onBatch(listener: (size: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Queues one call; it settles when its batch has run. */
  submit(request: Request): Promise<Result> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      if (this.flushing) return; // the running loop takes it next
      if (this.queue.length >= this.maxBatch || this.maxWaitMs === 0) this.start();
      else this.waitTimer ??= setTimeout(() => this.start(), this.maxWaitMs);
    });
  }

  /** Runs what is queued without waiting for more callers; resolves when nothing is queued or running. */
  drain(): Promise<void> {
    if (!this.flushing && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.start();
    });
  }

  private start(): void {
    clearTimeout(this.waitTimer);
    this.waitTimer = undefined;
    if (this.flushing) return;
    this.flushing = true;
    // Gather every call made in this tick into the batch.
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inBatch = batch.length;
      for (const listener of this.listeners) {
        try {
          listener(batch.length);
        } catch {
          /* an observer's failure must not fail the callers */
        }
      }
      try {
        const results = await this.runBatch(batch.map((w) => w.request));
        if (results.length !== batch.length)
          throw new Error(`MicroBatcher: a batch of ${batch.length} calls returned ${results.length} results`);
        batch.forEach((w, i) => w.resolve(results[i]!));
      } catch (error) {
        for (const w of batch) w.reject(error instanceof Error ? error : new Error(String(error)));
      }
      this.inBatch = 0;
    }
    this.flushing = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
