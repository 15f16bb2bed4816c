// Memory checks shared by the suites.
import { expect } from 'chai';

import { memory, synchronize } from '../../lib/index.js';

/**
 * Runs `run` `warmup` times, then `repeats` times more, and expects the allocator's bytes in use on
 * `device` to be exactly where they were after the warm-up (measured at synchronisation points,
 * since queued work holds its tensors until it has run).
 */
export function expectFlatMemory(device: string, run: () => unknown, warmup: number, repeats: number): void {
  for (let i = 0; i < warmup; i++) run();
  synchronize(device);
  const before = memory(device).bytesInUse;
  for (let i = 0; i < repeats; i++) run();
  synchronize(device);
  expect(memory(device).bytesInUse).to.equal(before);
}
