// What was built and what can run: backends, devices and their memory.
import { native, type BuildInfo, type DeviceReport, type MemoryStats } from './binding.js';
import type { DeviceSpec } from './tensor.js';

export type { BuildInfo, CudaDeviceReport, DeviceReport, MemoryStats } from './binding.js';

/** Which backends were compiled into the addon, and how it was built. */
export function buildInfo(): BuildInfo {
  return native.buildInfo();
}

/** Which backends are usable now: CPU threads, and each GPU or the reason there is none. */
export function devices(): DeviceReport {
  return native.devices();
}

/** True when at least one CUDA device can run llmrec's kernels. */
export function cudaAvailable(): boolean {
  return native.devices().cuda.available;
}

/** Allocator statistics of one device ('cpu' by default). */
export function memory(device: DeviceSpec = 'cpu'): MemoryStats {
  return native.memory(device);
}

/** Returns cached but unused device memory to the driver. */
export function emptyCache(device: DeviceSpec): void {
  native.emptyCache(device);
}

/** Waits for the device's queued work and throws any error it deferred. */
export function synchronize(device: DeviceSpec = 'cpu'): void {
  native.synchronize(device);
}

/**
 * Debugging aid: fill every new allocation with 0xFF bytes (NaN in f32 and bf16, -1 in i32), so
 * an output element a kernel forgot to write shows up. Process-wide; slows allocation down.
 */
export function setAllocationPoison(enabled: boolean): void {
  native.setAllocationPoison(enabled);
}
