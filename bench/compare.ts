#!/usr/bin/env node
// node dist/bench/compare.js [--best] LLMREC.jsonl TORCH.jsonl
//
// Joins the two sides of a benchmark run by case name and prints a Markdown table: times, the
// ratio (PyTorch time / llmrec time: above 1 means llmrec is faster) and each llmrec case's
// fraction of the roofline. The roofline uses the machine's measured ceilings from the same
// run: the best copy bandwidth of buffers too large for the caches (copy/f32/N with N >= 2^24,
// bytes read + written) and the best matrix rate (gemm/* cases of either side).
import { readFileSync } from 'node:fs';

interface Row {
  name: string;
  device: string;
  medianMs: number;
  gflops?: number;
  gbPerSecond?: number;
  machine?: string;
  date?: string;
}

function load(file: string): Row[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Row);
}

const args = process.argv.slice(2);
// --best: the fastest result per name wins (best of interleaved rounds appended to one file);
// otherwise the latest (files are appended to across runs).
const best = args[0] === '--best';
const [ours, theirs] = args.slice(best ? 1 : 0).map(load);
if (!ours || !theirs) {
  console.error('usage: compare [--best] LLMREC.jsonl TORCH.jsonl');
  process.exit(2);
}

function pick(rows: Row[]): Map<string, Row> {
  const chosen = new Map<string, Row>();
  for (const r of rows) {
    const previous = chosen.get(r.name);
    if (!best || !previous || r.medianMs < previous.medianMs) chosen.set(r.name, r);
  }
  return chosen;
}
const a = pick(ours);
const b = pick(theirs);
const all = [...a.values(), ...b.values()];
const isDramCopy = (r: Row) => /^copy\/f32\/(\d+)$/.test(r.name) && Number(r.name.split('/')[2]) >= 2 ** 24;
const peakBandwidth = Math.max(0, ...all.filter(isDramCopy).map((r) => r.gbPerSecond ?? 0));
const peakGflops = Math.max(0, ...all.filter((r) => r.name.startsWith('gemm/')).map((r) => r.gflops ?? 0));

function rooflineFraction(r: Row): string {
  const flops = (r.gflops ?? 0) * r.medianMs * 1e6;
  const bytes = (r.gbPerSecond ?? 0) * r.medianMs * 1e6;
  const floorMs = Math.max(
    peakGflops > 0 ? flops / (peakGflops * 1e6) : 0,
    peakBandwidth > 0 ? bytes / (peakBandwidth * 1e6) : 0,
  );
  return floorMs > 0 ? `${((100 * floorMs) / r.medianMs).toFixed(0)}%` : '';
}

const sample = ours[0] ?? theirs[0]!;
console.log(`Machine: ${sample.machine ?? 'unknown'}; date ${sample.date ?? ''}`);
console.log(
  `Ceilings measured in this run: copy ${peakBandwidth.toFixed(1)} GB/s (read + write), matrix ${peakGflops.toFixed(1)} GFLOP/s.\n`,
);
console.log('| case | llmrec ms | PyTorch ms | PyTorch/llmrec | llmrec GFLOP/s | llmrec GB/s | roofline |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const r of a.values()) {
  const t = b.get(r.name);
  console.log(
    `| ${r.name} | ${r.medianMs.toFixed(4)} | ${t ? t.medianMs.toFixed(4) : '—'} | ${t ? (t.medianMs / r.medianMs).toFixed(2) : '—'} | ${r.gflops?.toFixed(1) ?? ''} | ${r.gbPerSecond?.toFixed(1) ?? ''} | ${rooflineFraction(r)} |`,
  );
}
