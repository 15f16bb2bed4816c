// Reporting: mean ± std over seeds, JSON result files, SVG training curves, and the comparison
// tables (rows × metrics, mean ± std over seeds) that every pipeline's ablation or compare
// command writes as JSON, Markdown and an SVG bar chart. No plotting dependency: an SVG opens in
// any browser and diffs as text.
import { writeFileAtomicSync } from '../io/atomic.js';
import { expectArgs, expectArrayOf, expectFields } from '../guard.js';

export interface MeanStd {
  mean: number;
  /** Sample standard deviation (n − 1); 0 for a single value. */
  std: number;
  n: number;
  values: number[];
}

/** Mean and sample standard deviation of `values`. */
export function meanStd(values: readonly number[]): MeanStd {
  expectArgs('meanStd', { values }, 'array');
  const n = values.length;
  if (n === 0) throw new RangeError('meanStd: no values');
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, std: Math.sqrt(variance), n, values: [...values] };
}

/**
 * Aggregates per-seed results (flat name → number records, e.g. flattenMetrics output) into
 * mean ± std per name. Every run must report the same names.
 */
export function aggregateSeeds(runs: readonly Record<string, number>[]): Record<string, MeanStd> {
  expectArrayOf('aggregateSeeds', { runs }, 'object');
  if (runs.length === 0) throw new RangeError('aggregateSeeds: no runs');
  const names = Object.keys(runs[0]!);
  const out: Record<string, MeanStd> = {};
  for (const name of names) {
    out[name] = meanStd(
      runs.map((run, i) => {
        const v = run[name];
        if (v === undefined)
          throw new Error(`aggregateSeeds: run ${i} has no '${name}' (run 0 has ${names.join(', ')})`);
        return v;
      }),
    );
  }
  return out;
}

/** '0.1234 ± 0.0056'. */
export function formatMeanStd(value: MeanStd, digits = 4): string {
  expectFields('formatMeanStd', 'value', value, { mean: 'number', std: 'number' });
  expectArgs('formatMeanStd', { digits }, 'integer');
  // One value has no spread: a "± 0" would read as a measured zero variance.
  if (value.n === 1) return value.mean.toFixed(digits);
  return `${value.mean.toFixed(digits)} ± ${value.std.toFixed(digits)}`;
}

/** Writes text to `file` atomically (lib/io/atomic.ts). */
function writeTextFile(file: string, text: string): void {
  writeFileAtomicSync(file, [Buffer.from(text)]);
}

/** Writes JSON atomically, pretty-printed, with a trailing newline. */
export function writeJsonFile(file: string, value: unknown): void {
  expectArgs('writeJsonFile', { file }, 'string');
  let text: string;
  try {
    text = JSON.stringify(value, null, 2);
  } catch (error) {
    throw new Error("writeJsonFile: 'value' must be JSON-serialisable (no BigInt, no cycles)", { cause: error });
  }
  writeTextFile(file, text + '\n');
}

/** One line of a training plot: (step or epoch, value) points. */
export interface CurveSeries {
  name: string;
  points: readonly (readonly [number, number])[];
}

export interface CurveOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
}

const palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

const escapeXml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** About five round tick values covering [lo, hi]. */
function ticks(lo: number, hi: number): number[] {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** Renders training curves (loss, validation metrics) as a standalone SVG document. */
export function trainingCurvesSvg(series: readonly CurveSeries[], options: CurveOptions = {}): string {
  expectArrayOf('trainingCurvesSvg', { series }, 'object');
  expectArgs('trainingCurvesSvg', { options }, 'options');
  const width = options.width ?? 640;
  const height = options.height ?? 400;
  const margin = { left: 64, right: 150, top: 36, bottom: 48 };
  const finite = series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  if (finite.length === 0) throw new Error('trainingCurvesSvg: no finite points to plot');
  let [xMin, xMax, yMin, yMax] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const [x, y] of finite) {
    xMin = Math.min(xMin, x);
    xMax = Math.max(xMax, x);
    yMin = Math.min(yMin, y);
    yMax = Math.max(yMax, y);
  }
  if (xMax === xMin) xMax = xMin + 1;
  if (yMax === yMin) yMax = yMin + (Math.abs(yMin) || 1);
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const sx = (x: number) => margin.left + ((x - xMin) / (xMax - xMin)) * plotW;
  const sy = (y: number) => margin.top + plotH - ((y - yMin) / (yMax - yMin)) * plotH;
  const f = (v: number) => v.toFixed(2);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
  ];
  if (options.title)
    parts.push(`<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(options.title)}</text>`);
  for (const t of ticks(xMin, xMax)) {
    parts.push(`<line x1="${f(sx(t))}" y1="${margin.top}" x2="${f(sx(t))}" y2="${margin.top + plotH}" stroke="#eee"/>`);
    parts.push(`<text x="${f(sx(t))}" y="${margin.top + plotH + 16}" text-anchor="middle">${t}</text>`);
  }
  for (const t of ticks(yMin, yMax)) {
    parts.push(
      `<line x1="${margin.left}" y1="${f(sy(t))}" x2="${margin.left + plotW}" y2="${f(sy(t))}" stroke="#eee"/>`,
    );
    parts.push(`<text x="${margin.left - 6}" y="${f(sy(t) + 4)}" text-anchor="end">${t}</text>`);
  }
  parts.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`,
  );
  if (options.xLabel) {
    parts.push(
      `<text x="${margin.left + plotW / 2}" y="${height - 10}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    );
  }
  if (options.yLabel) {
    const cy = margin.top + plotH / 2;
    parts.push(
      `<text x="16" y="${cy}" text-anchor="middle" transform="rotate(-90 16 ${cy})">${escapeXml(options.yLabel)}</text>`,
    );
  }
  series.forEach((s, i) => {
    const color = palette[i % palette.length]!;
    // A non-finite value (a diverged loss) breaks the line instead of bending the axes.
    let d = '';
    let pen = 'M';
    for (const [x, y] of s.points) {
      if (!Number.isFinite(x) || !Number.isFinite(y)) {
        pen = 'M';
        continue;
      }
      d += `${pen}${f(sx(x))},${f(sy(y))} `;
      pen = 'L';
    }
    if (d) parts.push(`<path d="${d.trim()}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    const ly = margin.top + 8 + i * 18;
    parts.push(
      `<line x1="${width - margin.right + 10}" y1="${ly}" x2="${width - margin.right + 30}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
    );
    parts.push(`<text x="${width - margin.right + 36}" y="${ly + 4}">${escapeXml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/** Writes trainingCurvesSvg's output to `file` atomically. */
export function writeTrainingCurves(file: string, series: readonly CurveSeries[], options: CurveOptions = {}): void {
  expectArgs('writeTrainingCurves', { file }, 'string');
  expectArrayOf('writeTrainingCurves', { series }, 'object');
  expectArgs('writeTrainingCurves', { options }, 'options');
  writeTextFile(file, trainingCurvesSvg(series, options));
}

// ---------------------------------------------------------------------------------------------
// Comparison tables: the output of `llmrec <pipeline> ablation|compare`

/** One row of a comparison: a model or variant, and each metric's mean ± std over seeds. */
export interface ComparisonRow {
  name: string;
  /** Rows of one setting (e.g. 'SASRec, out-of-domain'); shown together, best value per group in bold. */
  group?: string;
  metrics: Record<string, MeanStd>;
}

export interface Comparison {
  title: string;
  rows: ComparisonRow[];
  /** The metrics shown, in order (default: the first row's). */
  metrics?: string[];
  /** How it was made (command, dataset, seeds, machine, time): a list under the table. */
  notes?: Record<string, string | number>;
}

/** A row from per-seed results (each a flat metric → value record, e.g. flatten() output). */
export function comparisonRow(name: string, runs: readonly Record<string, number>[], group?: string): ComparisonRow {
  expectArgs('comparisonRow', { name }, 'string');
  expectArrayOf('comparisonRow', { runs }, 'object');
  return group === undefined ? { name, metrics: aggregateSeeds(runs) } : { name, group, metrics: aggregateSeeds(runs) };
}

function comparisonMetrics(c: Comparison): string[] {
  const metrics = c.metrics ?? Object.keys(c.rows[0]?.metrics ?? {});
  if (c.rows.length === 0 || metrics.length === 0) throw new Error(`comparison '${c.title}': no rows or no metrics`);
  for (const row of c.rows)
    for (const m of metrics)
      if (!row.metrics[m]) throw new Error(`comparison '${c.title}': row '${row.name}' has no metric '${m}'`);
  return metrics;
}

/** The comparison as a Markdown table (best mean per metric and group in bold) with its notes. */
export function comparisonMarkdown(c: Comparison, digits = 4): string {
  expectFields('comparisonMarkdown', 'c', c, { title: 'string', rows: 'array' });
  expectArgs('comparisonMarkdown', { digits }, 'integer');
  const metrics = comparisonMetrics(c);
  const grouped = c.rows.some((r) => r.group !== undefined);
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const best = new Map<string, number>();
  for (const row of c.rows)
    for (const m of metrics) {
      const key = `${row.group ?? ''}\0${m}`;
      best.set(key, Math.max(best.get(key) ?? -Infinity, row.metrics[m]!.mean));
    }
  const header = [...(grouped ? ['setting'] : []), 'model', ...metrics];
  const lines = [
    `### ${c.title}`,
    '',
    `| ${header.map(cell).join(' | ')} |`,
    `| ${header.map((_, i) => (i < header.length - metrics.length ? '---' : '---:')).join(' | ')} |`,
    ...c.rows.map((row) => {
      const values = metrics.map((m) => {
        const text = formatMeanStd(row.metrics[m]!, digits);
        return row.metrics[m]!.mean === best.get(`${row.group ?? ''}\0${m}`) ? `**${text}**` : text;
      });
      return `| ${[...(grouped ? [row.group ?? ''] : []), row.name].map(cell).join(' | ')} | ${values.join(' | ')} |`;
    }),
  ];
  const n = Math.max(...c.rows.flatMap((r) => metrics.map((m) => r.metrics[m]!.n)));
  lines.push('', n === 1 ? 'One seed: no spread is shown.' : `Mean ± sample std over ${n} seeds.`);
  for (const [key, value] of Object.entries(c.notes ?? {})) lines.push(`- ${key}: ${value}`);
  return lines.join('\n') + '\n';
}

/** The comparison as a grouped bar chart: one group of bars per metric, one bar per row, ± std whiskers. */
export function comparisonSvg(c: Comparison): string {
  expectFields('comparisonSvg', 'c', c, { title: 'string', rows: 'array' });
  const metrics = comparisonMetrics(c);
  const bar = 14;
  const gap = 24;
  const labels = c.rows.map((r) => (r.group ? `${r.group} · ${r.name}` : r.name));
  const legendWidth = 16 + 7 * Math.max(...labels.map((l) => l.length));
  const margin = { left: 64, right: legendWidth + 24, top: 36, bottom: 48 };
  const plotW = Math.max(320, metrics.length * (c.rows.length * bar + gap));
  const plotH = Math.max(260, c.rows.length * 18);
  const width = margin.left + plotW + margin.right;
  const height = margin.top + plotH + margin.bottom;
  const top = Math.max(...c.rows.flatMap((r) => metrics.map((m) => r.metrics[m]!.mean + r.metrics[m]!.std)));
  const yMax = Number.isFinite(top) && top > 0 ? top * 1.1 : 1;
  const sy = (y: number) => margin.top + plotH - (Math.max(0, Math.min(y, yMax)) / yMax) * plotH;
  const f = (v: number) => v.toFixed(2);
  // Distinct hues when there are more rows than the palette has colours.
  const colorOf = (i: number) =>
    c.rows.length <= palette.length ? palette[i]! : `hsl(${Math.round((i * 360) / c.rows.length)}, 55%, 45%)`;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${f(margin.left + plotW / 2)}" y="20" text-anchor="middle" font-size="14">${escapeXml(c.title)}</text>`,
  ];
  for (const t of ticks(0, yMax)) {
    parts.push(
      `<line x1="${margin.left}" y1="${f(sy(t))}" x2="${margin.left + plotW}" y2="${f(sy(t))}" stroke="#eee"/>`,
    );
    parts.push(`<text x="${margin.left - 6}" y="${f(sy(t) + 4)}" text-anchor="end">${t}</text>`);
  }
  const slot = plotW / metrics.length;
  metrics.forEach((metric, mi) => {
    const x0 = margin.left + mi * slot + (slot - c.rows.length * bar) / 2;
    c.rows.forEach((row, ri) => {
      const { mean, std } = row.metrics[metric]!;
      const x = x0 + ri * bar;
      const color = colorOf(ri);
      const label = `${labels[ri]}, ${metric}: ${formatMeanStd(row.metrics[metric]!)}`;
      parts.push(
        `<rect x="${f(x)}" y="${f(sy(mean))}" width="${bar - 2}" height="${f(sy(0) - sy(mean))}" fill="${color}"><title>${escapeXml(label)}</title></rect>`,
      );
      if (std > 0) {
        const cx = f(x + (bar - 2) / 2);
        parts.push(`<line x1="${cx}" y1="${f(sy(mean - std))}" x2="${cx}" y2="${f(sy(mean + std))}" stroke="#333"/>`);
      }
    });
    parts.push(
      `<text x="${f(margin.left + mi * slot + slot / 2)}" y="${margin.top + plotH + 16}" text-anchor="middle">${escapeXml(metric)}</text>`,
    );
  });
  parts.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`,
  );
  labels.forEach((label, i) => {
    const lx = margin.left + plotW + 16;
    const ly = margin.top + 8 + i * 18;
    parts.push(`<rect x="${lx}" y="${ly - 6}" width="10" height="10" fill="${colorOf(i)}"/>`);
    parts.push(`<text x="${lx + 16}" y="${ly + 4}">${escapeXml(label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/** Writes `<base>.json`, `<base>.md` and `<base>.svg`, each atomically; returns their paths. */
export function writeComparison(base: string, c: Comparison): { json: string; markdown: string; svg: string } {
  expectArgs('writeComparison', { base }, 'string');
  expectFields('writeComparison', 'c', c, { title: 'string', rows: 'array' });
  const files = { json: `${base}.json`, markdown: `${base}.md`, svg: `${base}.svg` };
  const metrics = comparisonMetrics(c);
  writeJsonFile(files.json, { ...c, metrics });
  writeTextFile(files.markdown, comparisonMarkdown(c));
  writeTextFile(files.svg, comparisonSvg(c));
  return files;
}
