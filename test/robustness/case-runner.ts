// The loop of the robustness case workers (fuzz-worker.ts, files-worker.ts): runs each case from
// the first one named on the command line and prints one JSON line per case, so that the parent
// (support.ts runCaseWorker) can tell which case a crash or hang happened in.
import * as fs from 'node:fs';

export interface WorkerCase {
  name: string;
  /** How the case's arguments are shown in a report. */
  args: string;
  run: () => unknown;
}

/**
 * An error that shows the library did not check its argument: the engine's own message about a
 * property, call or conversion on a value of the wrong kind, or Node's own argument check
 * (`The "path" argument must be of type string`), which names Node's parameter, not llmrec's.
 */
export const internalError =
  /Cannot read (properties|private member)|Cannot (set|destructure|convert|mix BigInt|create property)|is not (a function|iterable|a constructor|defined)|Invalid (array length|typed array length)|Maximum call stack|Do not know how to serialize|reading '|Class constructor|\bundefined is not\b|\bnull is not\b|The "[^"]+" (argument|property)|The argument '[^']+'|cannot be converted to a BigInt|ERR_INVALID_ARG/;

function classify(error: unknown): { outcome: string; message: string } {
  if (!(error instanceof Error)) return { outcome: 'non-error', message: String(error) };
  return { outcome: internalError.test(error.message) ? 'internal' : 'threw', message: error.message };
}

/**
 * Writes a line to stdout synchronously, so it is out before a crash in the next case. A pipe to
 * a busy parent can be full (EAGAIN): wait a moment and write the rest.
 */
export function writeLine(line: object): void {
  const bytes = Buffer.from(`${JSON.stringify(line)}\n`);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let offset = 0; offset < bytes.length;) {
    try {
      offset += fs.writeSync(1, bytes, offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      Atomics.wait(pause, 0, 0, 5);
    }
  }
}

/** Runs `cases` from process.argv[2] (default 0), then exits. */
export async function runCases(
  cases: WorkerCase[],
  hooks: { after?: () => void; dispose?: (value: unknown) => void } = {},
): Promise<void> {
  // Unhandled rejections from fire-and-forget work are failures, not crashes.
  process.on('unhandledRejection', (e) => writeLine({ unhandled: String(e) }));
  const first = Number(process.argv[2] ?? 0);
  const out = writeLine;
  out({ total: cases.length });
  for (let i = first; i < cases.length; i++) {
    const c = cases[i]!;
    out({ begin: i });
    let result: { outcome: string; message: string };
    try {
      const value = c.run();
      if (value instanceof Promise) {
        result = await Promise.race([
          value.then(
            (v: unknown) => {
              hooks.dispose?.(v);
              return { outcome: 'returned', message: '' };
            },
            (e: unknown) => classify(e),
          ),
          new Promise<{ outcome: string; message: string }>((resolve) =>
            setTimeout(() => resolve({ outcome: 'pending', message: 'still pending after 5 s' }), 5000).unref(),
          ),
        ]);
      } else {
        result = { outcome: 'returned', message: '' };
        hooks.dispose?.(value);
      }
    } catch (error) {
      result = classify(error);
    }
    out({ case: i, name: c.name, args: c.args, ...result, message: result.message.slice(0, 300) });
    hooks.after?.();
  }
  out({ done: true });
  process.exit(0);
}
