// The raw addon, typed. Everything else in lib/ goes through `native`; nothing here knows about
// autograd or Tensor objects. Kernel families add their functions to NativeAddon by declaration
// merging (see lib/ops/*.ts), so each family's typings live beside its wrappers.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type DType = 'f32' | 'bf16' | 'i32';
export type HostArray = Float32Array | Int32Array | Uint16Array;

export interface NativeTensor {
  readonly shape: number[];
  readonly dtype: DType;
  readonly device: string;
  readonly numel: number;
  readonly disposed: boolean;
  dispose(): void;
  share(): NativeTensor;
  reshape(shape: number[]): NativeTensor;
  to(device: string): NativeTensor;
  dataSync(raw?: boolean): HostArray;
  data(raw?: boolean): Promise<HostArray>;
  write(values: HostArray): void;
}

export interface MemoryStats {
  /** Bytes held by live tensors. */
  bytesInUse: number;
  peakBytesInUse: number;
  /** Bytes held from the system: in use plus cached for reuse. */
  bytesReserved: number;
  liveBlocks: number;
  totalAllocations: number;
  cacheHits: number;
  /** Calls into malloc / cudaMalloc. */
  deviceAllocations: number;
  deviceFrees: number;
}

export interface BuildInfo {
  version: string;
  buildSystem: 'cmake-js' | 'node-gyp';
  buildType: string;
  compiler: string;
  napiVersion: number;
  backends: { cpu: boolean; cuda: boolean };
  cudaVersion?: string;
  cudaArchitectures?: string;
}

export interface CudaDeviceReport {
  id: string;
  name: string;
  totalMemory: number;
  computeCapability: string;
  multiprocessors: number;
  l2CacheBytes: number;
  supported: boolean;
  reason?: string;
}

export interface DeviceReport {
  cpu: {
    available: true;
    threads: number;
    /** The vector ISA the CPU kernels run: AVX-512 where the CPU has it, unless LLMREC_CPU_ISA=avx2. */
    isa: 'avx2' | 'avx512';
    /** Whether the CPU supports the AVX-512 path, whatever LLMREC_CPU_ISA says. */
    avx512: boolean;
  };
  cuda: {
    compiled: boolean;
    available: boolean;
    /** Why CUDA cannot be used, when it cannot. */
    reason?: string;
    driverVersion?: number;
    runtimeVersion?: number;
    devices: CudaDeviceReport[];
  };
}

export type BinaryOpName = 'add' | 'sub' | 'mul' | 'div' | 'maximum' | 'minimum';
export type UnaryOpName =
  'affine' | 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'abs' | 'square' | 'reciprocal' | 'tanh' | 'sigmoid' | 'sign';
export type ReduceOpName = 'sum' | 'mean' | 'max' | 'min';

export interface NativeAddon {
  NativeTensor: abstract new () => NativeTensor;
  buildInfo(): BuildInfo;
  devices(): DeviceReport;
  fromTypedArray(values: HostArray, shape: number[], dtype: DType, device: string): NativeTensor;
  empty(shape: number[], dtype: DType, device: string): NativeTensor;
  full(shape: number[], value: number, dtype: DType, device: string): NativeTensor;
  fill_(tensor: NativeTensor, value: number): void;
  random(
    shape: number[],
    distribution: 'uniform' | 'normal',
    a: number,
    b: number,
    seed: number | bigint,
    offset: number | bigint,
    dtype: DType,
    device: string,
  ): NativeTensor;
  memory(device: string): MemoryStats;
  setAllocationPoison(enabled: boolean): void;
  emptyCache(device: string): void;
  synchronize(device: string): void;
  /** Test-only: drives the kernel-error tracking of asynchronous devices with a simulated device. */
  errorWindowsProbe(
    slots: number,
    steps: ({ touch: number[]; fails?: boolean } | 'check' | 'close')[],
    ready?: boolean,
  ): { errors: (string | null)[]; skipped: number[]; deferred: string | null };
  binary(op: BinaryOpName, a: NativeTensor, b: NativeTensor): NativeTensor;
  /** In place into `out`; returns nothing, so no second handle pins the storage. */
  binary(op: BinaryOpName, a: NativeTensor, b: NativeTensor, out: NativeTensor): void;
  unary(op: UnaryOpName, x: NativeTensor, alpha: number, beta: number): NativeTensor;
  /** In place into `out`; returns nothing, so no second handle pins the storage. */
  unary(op: UnaryOpName, x: NativeTensor, alpha: number, beta: number, out: NativeTensor): void;
  cast(x: NativeTensor, dtype: DType): NativeTensor;
  reduce(op: ReduceOpName, x: NativeTensor, axis: number | null, keepDims: boolean): NativeTensor;
  expand(x: NativeTensor, shape: number[]): NativeTensor;
}

export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

// The addon is compiled for x86-64-v3 (AVX2 + FMA) unless LLMREC_MARCH said otherwise at build
// time. On an older CPU, loading it would end the process on an illegal instruction, so refuse
// with instructions instead.
function checkCpuFeatures(): void {
  if (process.platform !== 'linux' || process.arch !== 'x64' || !existsSync('/proc/cpuinfo')) return;
  const stamp = path.join(packageRoot, 'build', 'llmrec-build.json');
  const march: unknown = existsSync(stamp)
    ? (JSON.parse(readFileSync(stamp, 'utf8')) as { march?: unknown }).march
    : 'x86-64-v3';
  if (typeof march !== 'string' || !/x86-64-v[34]/.test(march)) return;
  const flagsLine = readFileSync('/proc/cpuinfo', 'utf8')
    .split('\n')
    .find((line) => line.startsWith('flags'));
  if (!flagsLine) return;
  const flags = new Set(flagsLine.split(':')[1]?.trim().split(/\s+/));
  const missing = ['avx2', 'fma'].filter((flag) => !flags.has(flag));
  if (missing.length > 0) {
    throw new Error(
      `llmrec: this CPU lacks ${missing.join(' and ')}, which the native addon is compiled for. ` +
        'Rebuild it for this CPU with `LLMREC_MARCH=x86-64 npm run build:native`.',
    );
  }
}

function load(): NativeAddon {
  checkCpuFeatures();
  const require = createRequire(import.meta.url);
  const bindings = require('bindings') as (options: { bindings: string; module_root: string }) => unknown;
  try {
    // LLMREC_ADDON names another build of the addon (the AddressSanitizer one of `npm run test:asan`).
    if (process.env.LLMREC_ADDON) return require(path.resolve(process.env.LLMREC_ADDON)) as NativeAddon;
    return bindings({ bindings: 'llmrec', module_root: packageRoot }) as NativeAddon;
  } catch (error) {
    const built = existsSync(path.join(packageRoot, 'build', 'Release', 'llmrec.node'));
    const cause = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new Error(
      built
        ? `llmrec: build/Release/llmrec.node exists but does not load (${cause}). ` +
            'Rebuild it with `npm run build:native`.'
        : 'llmrec: the native addon is not built (build/Release/llmrec.node is missing). ' +
            'Build it with `npm run build:native`: cmake-js with CUDA where CMake and nvcc exist, ' +
            'node-gyp (CPU only) otherwise; LLMREC_BUILD=gyp or LLMREC_CUDA=off force the CPU-only build.',
      { cause: error },
    );
  }
}

export const native: NativeAddon = load();
