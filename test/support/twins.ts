// The CUDA-vs-CPU-twin check of the kernel suites: on a CUDA device every result is also
// computed by its CPU twin and compared; on the CPU the check has nothing to compare and passes.
import { expect } from 'chai';

import type { Tensor } from '../../lib/index.js';
import { onGpu } from './devices.js';
import { expectClose, f64 } from './reference.js';

/** On CUDA: `result` against `onCpu()` (the same op on CPU copies of the inputs) within `tol`. */
export function crossCheck(device: string, result: Tensor, onCpu: () => Tensor, tol: number, what: string): void {
  if (!onGpu(device)) return;
  const cpu = onCpu();
  try {
    expectClose(f64(result), f64(cpu), tol, `${what}: CUDA vs CPU twin`);
  } finally {
    cpu.dispose();
  }
}

/** On CUDA: every named tensor of `result` equal, element for element, to the CPU twin's. */
export function crossCheckExact<K extends string>(
  device: string,
  result: Readonly<Record<K, Tensor>>,
  onCpu: () => Readonly<Record<K, Tensor>>,
  what = 'result',
): void {
  if (!onGpu(device)) return;
  const cpu = onCpu();
  try {
    for (const [name, tensor] of Object.entries(result) as [K, Tensor][]) {
      const twin = cpu[name] as Tensor | undefined;
      expect(twin, `${what}: the CPU twin returned no '${name}'`).to.not.equal(undefined);
      expect(Array.from(tensor.dataSync()), `${what}.${name}: CUDA vs CPU twin`).to.deep.equal(
        Array.from(twin!.dataSync()),
      );
    }
  } finally {
    for (const tensor of Object.values(cpu) as Tensor[]) tensor.dispose();
  }
}
