// One served model name: the run folder it comes from, the generation of it that serves now, and
// the requests it holds. A reload builds the next generation beside the serving one and swaps it
// in only once it has loaded and passed a warm-up pass; requests that already hold the old
// generation finish on it, and it is closed when the last of them is answered. A folder that
// fails to load (a corrupt or half-written checkpoint) changes nothing: the old generation keeps
// serving.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { ModelInfo, ServableModel } from '../servable.js';

/** Opens the run folder; `Recommender.load` unless a server is given another loader. */
export type OpenModel = () => Promise<ServableModel>;

interface Generation {
  model: ServableModel;
  number: number;
  fingerprint: string;
  loadedAt: Date;
  leases: number;
  retired: boolean;
  stopBatchObserver: () => void;
  /** Settles once the generation is retired, unheld and closed. */
  closed: Promise<void>;
  markClosed: () => void;
}

/** A request's hold on one generation; `release()` once its answer is settled. */
export interface Lease {
  readonly model: ServableModel;
  readonly generation: number;
  release(): void;
}

export interface ReloadResult {
  generation: number;
  fingerprint: string;
  previousGeneration: number;
}

/** A reload that was refused; the generation in `serving` goes on answering. */
export class ReloadRefusedError extends Error {
  constructor(
    message: string,
    readonly serving: { generation: number; fingerprint: string } | null,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ReloadRefusedError';
  }
}

export interface ModelSlotOptions {
  name: string;
  dir: string;
  open: OpenModel;
  /** Requests the slot holds at once (waiting or computing); the next one is refused. */
  maxQueue: number;
  /** Told the size of every batch any generation runs. */
  onBatch?: (size: number) => void;
}

export type Admission = Lease | 'queue full' | 'not loaded';

export class ModelSlot {
  readonly name: string;
  readonly dir: string;
  private readonly open: OpenModel;
  private readonly maxQueue: number;
  private readonly onBatch: ((size: number) => void) | undefined;
  private current: Generation | undefined;
  private generations = 0;
  private held = 0;
  /** Reloads run one after another, each reading the folder as it is when its turn comes. */
  private reloadChain: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | undefined;
  /** Generations not yet closed: the serving one and retired ones still answering requests. */
  private readonly live = new Set<Generation>();

  constructor(options: ModelSlotOptions) {
    this.name = options.name;
    this.dir = options.dir;
    this.open = options.open;
    this.maxQueue = options.maxQueue;
    this.onBatch = options.onBatch;
  }

  /** Whether a generation has loaded and warmed up. */
  get ready(): boolean {
    return this.current !== undefined && this.closing === undefined;
  }

  /** Requests admitted and not yet answered, over all generations. */
  get inFlight(): number {
    return this.held;
  }

  /** The serving generation's model; undefined until the first load has finished. */
  get model(): ServableModel | undefined {
    return this.current?.model;
  }

  describe(): { generation: number; fingerprint: string; loadedAt: string; info: ModelInfo } | undefined {
    const g = this.current;
    return (
      g && {
        generation: g.number,
        fingerprint: g.fingerprint,
        loadedAt: g.loadedAt.toISOString(),
        info: g.model.info(),
      }
    );
  }

  /** The first load: a reload with nothing serving yet (a failure says why, naming the folder). */
  async load(): Promise<void> {
    await this.reload();
  }

  /**
   * Loads the run folder as it is now, warms it up, and swaps it in. Throws ReloadRefusedError
   * (and keeps the serving generation) when the folder does not load, fails its warm-up, or
   * changed while it was being read.
   */
  reload(): Promise<ReloadResult> {
    const next = this.reloadChain.then(() => this.loadNextGeneration());
    this.reloadChain = next.catch(() => undefined);
    return next;
  }

  /** Admits a request to the serving generation, or says why not. */
  acquire(): Admission {
    const g = this.current;
    if (!g || this.closing) return 'not loaded';
    if (this.held >= this.maxQueue) return 'queue full';
    this.held++;
    g.leases++;
    let released = false;
    return {
      model: g.model,
      generation: g.number,
      release: () => {
        if (released) return;
        released = true;
        this.held--;
        g.leases--;
        if (g.retired && g.leases === 0) this.retire(g);
      },
    };
  }

  /** Waits for reloads and held requests, then closes every generation. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.reloadChain;
      const g = this.current;
      if (g && !g.retired) {
        g.retired = true;
        if (g.leases === 0) this.retire(g);
      }
      // Held requests release their generation as they finish; it closes after the last one.
      await Promise.all([...this.live].map((live) => live.closed));
    })();
    return this.closing;
  }

  private async loadNextGeneration(): Promise<ReloadResult> {
    const serving = this.current && { generation: this.current.number, fingerprint: this.current.fingerprint };
    if (this.closing) throw new ReloadRefusedError(`model '${this.name}' is shutting down`, serving ?? null);
    const refuse = (why: string, cause?: unknown): never => {
      const keep = serving
        ? `; generation ${serving.generation} (${serving.fingerprint}) keeps serving`
        : '; nothing was loaded';
      throw new ReloadRefusedError(`model '${this.name}': ${why}${keep}`, serving ?? null, { cause });
    };
    let before: string;
    try {
      before = runFolderFingerprint(this.dir);
    } catch (error) {
      return refuse(`cannot read the run folder ${this.dir}: ${(error as Error).message}`, error);
    }
    let model: ServableModel;
    try {
      model = await this.open();
    } catch (error) {
      return refuse(`the run folder ${this.dir} did not load: ${(error as Error).message}`, error);
    }
    try {
      await model.warmUp();
      const after = runFolderFingerprint(this.dir);
      if (after !== before)
        refuse(
          `the run folder ${this.dir} changed while it was being loaded (a write in progress?); reload when it is done`,
        );
    } catch (error) {
      await model.close().catch(() => undefined);
      if (error instanceof ReloadRefusedError) throw error;
      return refuse(`the model from ${this.dir} failed its warm-up pass: ${(error as Error).message}`, error);
    }
    const previous = this.current;
    const stopBatchObserver = this.onBatch && model.batching ? model.batching.onBatch(this.onBatch) : () => undefined;
    let markClosed!: () => void;
    const closed = new Promise<void>((resolve) => (markClosed = resolve));
    this.current = {
      model,
      number: ++this.generations,
      fingerprint: before,
      loadedAt: new Date(),
      leases: 0,
      retired: false,
      stopBatchObserver,
      closed,
      markClosed,
    };
    this.live.add(this.current);
    if (previous) {
      previous.retired = true;
      if (previous.leases === 0) this.retire(previous);
    }
    return { generation: this.current.number, fingerprint: before, previousGeneration: previous?.number ?? 0 };
  }

  private retire(g: Generation): void {
    g.stopBatchObserver();
    void g.model
      .close()
      .catch(() => undefined) // a model that fails to close has nothing left to serve either
      .then(() => {
        this.live.delete(g);
        g.markClosed();
      });
  }
}

/**
 * Names a run folder's contents: a hash of every file's path, size and modification time (files
 * and folders whose names start with '.' are temporaries of atomic writes and are left out).
 */
export function runFolderFingerprint(dir: string): string {
  const hash = createHash('sha256');
  const entries: string[] = [];
  const visit = (folder: string, depth: number) => {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) {
        if (depth < 4) visit(full, depth + 1);
      } else if (entry.isFile()) {
        const stat = fs.statSync(full);
        entries.push(`${path.relative(dir, full)}\0${stat.size}\0${stat.mtimeMs}`);
      }
    }
  };
  visit(dir, 0);
  for (const entry of entries.sort()) hash.update(`${entry}\n`);
  return hash.digest('hex').slice(0, 12);
}
