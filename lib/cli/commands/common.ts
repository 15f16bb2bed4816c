// Pieces the model commands share: device choice and tables. The dataset options live in
// ../data-options.ts.
import { devices } from '../../device.js';
import { UsageError } from '../args.js';

/** 'cpu', 'cuda' (the first GPU) or 'cuda:N', checked against what this machine has. */
export function resolveDevice(requested: string): string {
  if (requested === 'cpu') return 'cpu';
  if (!/^cuda(:\d+)?$/.test(requested)) throw new UsageError(`--device takes cpu, cuda or cuda:N, got '${requested}'`);
  const report = devices();
  if (!report.cuda.available)
    throw new Error(`--device ${requested}: no usable GPU (${report.cuda.reason ?? 'none found'}); use --device cpu`);
  return requested === 'cuda' ? 'cuda:0' : requested;
}

export function formatTable(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? c.toFixed(4) : c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r: (string | number)[]) => r.map((c, i) => String(c).padEnd(widths[i]!)).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}
