#!/usr/bin/env node
// npm run bench -- [filter ...] [--device cpu|cuda] [--out FILE] [--quick] [--variants]
//
// --variants times every kernel variant of every family in the variant table
// (lib/kernel-variants.ts) on the family's benchmarks (bench/<family>.bench.ts), one row per
// variant: the benchmark step of llm.c's validate-then-benchmark loop (test/kernel-variants.test.ts
// validates). Variants are CUDA launchers; on the CPU it lists them and times the CPU twin.
//
// Runs every benchmark in bench/*.bench.ts whose name contains one of the filters, prints a
// table and writes JSON lines (one result per line, with the machine and date) to --out or to
// bench/results/<device>-<date>.jsonl.
import { appendFileSync, mkdirSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { buildInfo, devices } from '../lib/index.js';
import { kernelVariants, setKernelVariant } from '../lib/kernel-variants.js';
import { timeCase, type Benchmark, type BenchResult } from './harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));

function parseArgs(argv: string[]) {
  const filters: string[] = [];
  let device = 'cpu';
  let out: string | undefined;
  let quick = false;
  let variants = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--device') device = argv[++i] ?? device;
    else if (arg === '--out') out = argv[++i];
    else if (arg === '--quick') quick = true;
    else if (arg === '--variants') variants = true;
    else if (arg === '--help' || arg === '-h') {
      console.log('usage: npm run bench -- [filter ...] [--device cpu|cuda] [--out FILE] [--quick] [--variants]');
      process.exit(0);
    } else filters.push(arg);
  }
  return { filters, device, out, quick, variants };
}

/** Every benchmark, with its family: its own, or the name of its file, bench/<family>.bench.ts. */
async function loadBenchmarks(): Promise<(Benchmark & { family: string })[]> {
  const files = readdirSync(here).filter((f) => f.endsWith('.bench.js'));
  const all: (Benchmark & { family: string })[] = [];
  for (const file of files.sort()) {
    const mod = (await import(pathToFileURL(path.join(here, file)).href)) as { benchmarks?: Benchmark[] };
    const family = file.slice(0, -'.bench.js'.length);
    all.push(...(mod.benchmarks ?? []).map((b) => ({ ...b, family: b.family ?? family })));
  }
  return all;
}

function machine(device: string): string {
  if (device.startsWith('cuda')) {
    const gpu = devices().cuda.devices[0];
    return gpu ? gpu.name : 'unknown GPU';
  }
  return `${os.cpus()[0]?.model ?? 'CPU'} x${devices().cpu.threads}`;
}

function format(r: BenchResult): string {
  const rate = [
    r.gflops ? `${r.gflops.toFixed(1)} GFLOP/s` : '',
    r.gbPerSecond ? `${r.gbPerSecond.toFixed(1)} GB/s` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return `${r.name.padEnd(48)} ${r.medianMs.toFixed(4).padStart(12)} ms  ${rate}`;
}

async function main(): Promise<void> {
  const { filters, device, out, quick, variants } = parseArgs(process.argv.slice(2));
  const kind = device.startsWith('cuda') ? 'cuda' : 'cpu';
  if (kind === 'cuda' && !devices().cuda.available) {
    throw new Error(`bench: --device ${device} but no GPU is usable: ${devices().cuda.reason ?? ''}`);
  }
  const selected = (await loadBenchmarks()).filter(
    (b) => b.devices.includes(kind) && (filters.length === 0 || filters.some((f) => b.name.includes(f))),
  );
  const date = new Date().toISOString();
  const file = out ?? path.join(here, '..', '..', 'bench', 'results', `${kind}-${date.slice(0, 10)}.local.jsonl`);
  mkdirSync(path.dirname(file), { recursive: true });
  const context = { machine: machine(device), date, build: buildInfo().buildSystem, node: process.version };
  console.log(`# ${context.machine}, ${date}, ${selected.length} benchmark(s) -> ${file}`);
  const options = quick ? { minTrialMs: 20, trials: 3, warmupMs: 20 } : { minTrialMs: 200, trials: 7, warmupMs: 200 };
  const time = async (benchmark: Benchmark, name: string, extra: Record<string, string> = {}) => {
    const c = benchmark.setup(device);
    try {
      const result = await timeCase(name, device, c, options);
      console.log(format(result));
      appendFileSync(file, JSON.stringify({ ...result, ...extra, ...context }) + '\n');
    } finally {
      c.dispose();
    }
  };
  if (!variants) {
    for (const benchmark of selected) await time(benchmark, benchmark.name);
    return;
  }
  for (const f of kernelVariants()) {
    const cases = selected.filter((b) => b.family === f.family);
    console.log(
      `# ${f.family}: variants ${f.variants.join(', ')} (default: ${f.defaultRule}); ${cases.length} benchmark(s)`,
    );
    if (kind === 'cpu') {
      // Every variant is a CUDA launcher: list them, time the one CPU twin.
      console.log(`#   the variants are CUDA kernels and need a GPU (--device cuda); timing the CPU twin`);
      for (const benchmark of cases) await time(benchmark, `${benchmark.name} [cpu twin]`, { variant: 'cpu twin' });
      continue;
    }
    const previous = f.selected;
    try {
      for (const variant of f.variants) {
        setKernelVariant(f.family, variant);
        for (const benchmark of cases) await time(benchmark, `${benchmark.name} [${variant}]`, { variant });
      }
    } finally {
      setKernelVariant(f.family, previous);
    }
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
