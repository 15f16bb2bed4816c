// Runs a suite once per test device. `npm test` uses the CPU; `npm run test:gpu` sets
// LLMREC_TEST_DEVICES=cuda and runs the same suites on CUDA, where each result is also compared
// with the CPU twin. Without a usable GPU the CUDA suites show as skipped, with the reason.
import { cudaAvailable, devices } from '../../lib/index.js';

export const testDevices: string[] = (process.env.LLMREC_TEST_DEVICES ?? 'cpu')
  .split(',')
  .map((d) => d.trim())
  .filter((d) => d.length > 0);

export function describeEachDevice(title: string, body: (device: string) => void): void {
  for (const device of testDevices) {
    if (device.startsWith('cuda') && !cudaAvailable()) {
      describe(`${title} [${device}]`, () => {
        it(`skipped: no usable GPU (${devices().cuda.reason ?? 'unknown reason'})`, function () {
          this.skip();
        });
      });
      continue;
    }
    describe(`${title} [${device}]`, () => body(device));
  }
}

export const onGpu = (device: string): boolean => device.startsWith('cuda');
