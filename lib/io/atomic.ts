// Atomic file replacement: write a temporary file beside the target, flush it to disk, then
// rename over the target. A crash at any point leaves either the old file or the new one, never
// a torn mix, which is what keeps checkpoints and caches safe.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expectArgs, expectArrayOf } from '../guard.js';

function temporaryPath(target: string): string {
  return path.join(
    path.dirname(target),
    `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
}

function syncDirectory(dir: string): void {
  // Makes the rename itself durable. Not every platform can open a directory; the rename is
  // still atomic there.
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    /* best effort */
  }
}

/** Writes the chunks to `target` atomically. */
export function writeFileAtomicSync(target: string, chunks: readonly Uint8Array[]): void {
  expectArgs('writeFileAtomicSync', { target }, 'string');
  expectArrayOf('writeFileAtomicSync', { chunks }, Uint8Array);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const temp = temporaryPath(target);
  const fd = fs.openSync(temp, 'w', 0o644);
  try {
    for (const chunk of chunks) {
      let written = 0;
      while (written < chunk.byteLength) written += fs.writeSync(fd, chunk, written);
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(temp, target);
  } catch (error) {
    try {
      fs.closeSync(fd);
    } catch {
      /* already closed */
    }
    fs.rmSync(temp, { force: true });
    throw error;
  }
  syncDirectory(path.dirname(target));
}

/** Writes the chunks to `target` atomically, without blocking the event loop on disk I/O. */
export async function writeFileAtomic(target: string, chunks: readonly Uint8Array[]): Promise<void> {
  expectArgs('writeFileAtomic', { target }, 'string');
  expectArrayOf('writeFileAtomic', { chunks }, Uint8Array);
  await fs.promises.mkdir(path.dirname(target), { recursive: true });
  const temp = temporaryPath(target);
  const handle = await fs.promises.open(temp, 'w', 0o644);
  try {
    for (const chunk of chunks) {
      let written = 0;
      while (written < chunk.byteLength) written += (await handle.write(chunk, written)).bytesWritten;
    }
    await handle.sync();
    await handle.close();
    await fs.promises.rename(temp, target);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.promises.rm(temp, { force: true });
    throw error;
  }
  syncDirectory(path.dirname(target));
}
