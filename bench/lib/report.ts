import { fmt, round, type Spread, spread } from './stats.ts';

/** One compared figure: Bullpen against its baseline, measured interleaved in the same run. */
export interface Row {
  figure: string;
  unit: string;
  bullpen: Spread;
  baseline: Spread;
  /** Median of Bullpen / median of baseline. */
  ratio: number;
  /** e.g. `>= 0.9` or `<= 1.15`; absent when the figure has no target. */
  target?: string;
  met?: boolean;
  digits?: number;
}

export interface Section {
  id: string;
  title: string;
  baselineName: string;
  rows: Row[];
  /** Free-form figures (RSS samples, commands per job, ...). */
  extra?: Record<string, unknown>;
  notes?: string[];
}

export function row(
  figure: string,
  unit: string,
  bullpen: number[],
  baseline: number[],
  target?: { op: '>=' | '<='; value: number },
  digits = 0,
): Row {
  const b = spread(bullpen);
  const r = spread(baseline);
  const ratio = round(b.median / r.median, 3);
  const out: Row = { figure, unit, bullpen: b, baseline: r, ratio, digits };
  if (target) {
    out.target = `${target.op} ${target.value}`;
    out.met = target.op === '>=' ? ratio >= target.value : ratio <= target.value;
  }
  return out;
}

/** A figure without a baseline (memory, scaling): shown with its own median [min–max]. */
export function single(figure: string, unit: string, values: number[], digits = 0): Row {
  const s = spread(values);
  return { figure, unit, bullpen: s, baseline: spread([Number.NaN]), ratio: Number.NaN, digits };
}

export function renderSection(s: Section): string {
  const lines = [
    `### ${s.title}`,
    '',
    `| figure | Bullpen | ${s.baselineName} | ratio | target |`,
    '| --- | --- | --- | --- | --- |',
  ];
  for (const r of s.rows) {
    const base = Number.isNaN(r.baseline.median) ? '—' : fmt(r.baseline, r.digits);
    const ratio = Number.isNaN(r.ratio) ? '—' : `${r.ratio.toFixed(2)}×`;
    const target = r.target ? `${r.target} ${r.met ? 'met' : '**missed**'}` : '';
    lines.push(`| ${r.figure} (${r.unit}) | ${fmt(r.bullpen, r.digits)} | ${base} | ${ratio} | ${target} |`);
  }
  for (const n of s.notes ?? []) lines.push('', n);
  return lines.join('\n');
}

export function printSection(s: Section): void {
  process.stdout.write(`\n${renderSection(s)}\n`);
}
