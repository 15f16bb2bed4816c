// Training progress: a redrawn bar on a terminal, JSON lines otherwise (CI logs, files, pipes).
// Both get the same events, so a log is a faithful record of what the bar showed.

export interface ProgressEvent {
  event: 'step' | 'eval' | 'epoch' | 'checkpoint' | 'stop' | 'nonfinite' | 'resume';
  epoch: number;
  step: number;
  [key: string]: unknown;
}

export interface ProgressSink {
  /** Called on every event; a bar redraws on 'step', everything is logged. */
  emit(event: ProgressEvent): void;
  /** Begins an epoch of `total` batches (for the bar's width and ETA). */
  startEpoch?(epoch: number, total: number | undefined): void;
  close?(): void;
}

interface Writable {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** JSON lines with a timestamp, one per event. */
export function jsonLinesSink(out: Writable = process.stdout): ProgressSink {
  return { emit: (event) => out.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`) };
}

/** A bar that redraws in place at most ~10 times a second; non-step events print on their own line. */
export function barSink(out: Writable = process.stderr, label = 'train'): ProgressSink {
  let total: number | undefined;
  let done = 0;
  let started = Date.now();
  let lastDraw = 0;
  let epochNo = 0;
  const draw = (loss: unknown): void => {
    const width = Math.max(10, Math.min(40, (out.columns ?? 80) - 60));
    const elapsed = (Date.now() - started) / 1000;
    const rate = done / Math.max(elapsed, 1e-9);
    let bar = `${done}`;
    if (total) {
      const filled = Math.round((width * done) / total);
      const eta = rate > 0 ? (total - done) / rate : 0;
      bar = `[${'='.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${total} eta ${formatSeconds(eta)}`;
    }
    const lossText = typeof loss === 'number' ? ` loss ${loss.toFixed(4)}` : '';
    out.write(`\r\x1b[2K${label} epoch ${epochNo} ${bar} ${rate.toFixed(1)} it/s${lossText}`);
  };
  return {
    startEpoch(epoch, count) {
      epochNo = epoch;
      total = count;
      done = 0;
      started = Date.now();
    },
    emit(event) {
      if (event.event === 'step') {
        done += 1;
        const now = Date.now();
        if (now - lastDraw > 100 || (total !== undefined && done === total)) {
          lastDraw = now;
          draw(event.loss);
        }
        return;
      }
      const { event: kind, epoch, step, ...rest } = event;
      const details = Object.entries(rest)
        .map(([k, v]) => `${k}=${typeof v === 'number' ? +v.toFixed(5) : JSON.stringify(v)}`)
        .join(' ');
      out.write(`\r\x1b[2K${label} ${kind} epoch ${epoch} step ${step} ${details}\n`);
    },
    close() {
      out.write('\n');
    },
  };
}

/** The bar on a TTY, JSON lines elsewhere. */
export function defaultSink(label = 'train'): ProgressSink {
  return process.stderr.isTTY ? barSink(process.stderr, label) : jsonLinesSink(process.stdout);
}

/** Discards everything (for tests and library use). */
export const silentSink: ProgressSink = { emit: () => undefined };

function formatSeconds(seconds: number): string {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
