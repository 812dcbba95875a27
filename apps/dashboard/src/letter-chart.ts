import type { DeadLetterEntry, LetterGroup } from '@bullpen/jobs';
import { html, type SafeHtml } from './html.ts';
import { fmtTime } from './layout.ts';

/** Letters per error group and time bucket, oldest bucket first. */
export interface LetterHistory {
  /** Start of the first bucket (ms since the epoch). */
  start: number;
  stepMs: number;
  buckets: number;
  series: { fingerprint: string; label: string; total: number; counts: number[] }[];
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** Bucket sizes to choose from, smallest first: the chart uses the smallest that fits the span. */
const STEPS = [MINUTE, 5 * MINUTE, 15 * MINUTE, HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, 24 * HOUR, 7 * 24 * HOUR];
/** Okabe–Ito: told apart with every common colour-vision deficiency. The last is "other". */
const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#999999'];

/**
 * When the letters failed, bucketed from the oldest (or an hour ago) to `now` (at most `maxBuckets` buckets of a round size), one
 * series per group (the `maxSeries - 1` largest, the rest summed as "other").
 */
export function letterHistory(
  entries: readonly DeadLetterEntry[],
  groups: readonly LetterGroup[],
  opts: { now?: number; maxBuckets?: number; maxSeries?: number } = {},
): LetterHistory {
  const now = opts.now ?? Date.now();
  const maxBuckets = opts.maxBuckets ?? 48;
  const maxSeries = opts.maxSeries ?? COLOURS.length;
  const times = entries.map((e) => Date.parse(e.letter.failedAt)).filter(Number.isFinite);
  // At least the last hour, so that a fresh failure is a bar at the right rather than the whole chart.
  const oldest = Math.min(...times, now - HOUR);
  const span = now - oldest;
  const stepMs = STEPS.find((s) => Math.ceil(span / s) < maxBuckets) ?? STEPS.at(-1)!;
  const start = Math.floor(oldest / stepMs) * stepMs;
  const buckets = Math.max(1, Math.floor((now - start) / stepMs) + 1);
  // Groups are largest first: the first ones get a series of their own.
  const own = groups.slice(0, groups.length > maxSeries ? maxSeries - 1 : maxSeries);
  const keyOf = (queue: string, name: string, fp: string) => `${queue}\u0000${name}\u0000${fp}`;
  const index = new Map(own.map((g, i) => [keyOf(g.queue, g.name, g.fingerprint), i]));
  const series = own.map((g) => ({
    fingerprint: g.fingerprint,
    label: `${g.name} · ${g.sampleError.code}: ${g.sampleError.message}`,
    total: 0,
    counts: new Array<number>(buckets).fill(0),
  }));
  const other = { fingerprint: 'other', label: 'other errors', total: 0, counts: new Array<number>(buckets).fill(0) };
  for (const e of entries) {
    const t = Date.parse(e.letter.failedAt);
    if (!Number.isFinite(t)) continue;
    const b = Math.min(buckets - 1, Math.max(0, Math.floor((t - start) / stepMs)));
    const s = series[index.get(keyOf(e.queue, e.letter.name, e.letter.fingerprint)) ?? -1] ?? other;
    s.counts[b]! += 1;
    s.total += 1;
  }
  return { start, stepMs, buckets, series: other.total > 0 ? [...series, other] : series };
}

const W = 1000;
const H = 200;
const PAD = { left: 36, right: 8, top: 8, bottom: 22 };

function stepText(ms: number): string {
  if (ms < HOUR) return `${ms / MINUTE} min`;
  if (ms < 24 * HOUR) return `${ms / HOUR} h`;
  return `${ms / (24 * HOUR)} d`;
}

/**
 * The history as a stacked bar chart: inline SVG (presentation attributes only, no style attribute or script, so the
 * page's CSP holds), each bar with a tooltip, and a legend. Made on the server; nothing is fetched.
 */
export function letterChart(h: LetterHistory): SafeHtml {
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const totals = Array.from({ length: h.buckets }, (_, b) => h.series.reduce((sum, s) => sum + s.counts[b]!, 0));
  const max = Math.max(1, ...totals);
  const bw = innerW / h.buckets;
  const y = (n: number) => PAD.top + innerH - (n / max) * innerH;
  const colour = (i: number, s: { fingerprint: string }) =>
    s.fingerprint === 'other' ? COLOURS.at(-1)! : COLOURS[i % (COLOURS.length - 1)]!;
  const bars: SafeHtml[] = [];
  for (let b = 0; b < h.buckets; b++) {
    let base = 0;
    const at = fmtTime(h.start + b * h.stepMs);
    h.series.forEach((s, i) => {
      const n = s.counts[b]!;
      if (n === 0) return;
      const top = y(base + n);
      bars.push(
        html`<rect x="${(PAD.left + b * bw + 1).toFixed(1)}" y="${top.toFixed(1)}" width="${Math.max(1, bw - 2).toFixed(1)}" height="${(y(base) - top).toFixed(1)}" fill="${colour(i, s)}" data-fingerprint="${s.fingerprint}" data-count="${n}"><title>${n} letter${n === 1 ? '' : 's'} from ${at} (${stepText(h.stepMs)}): ${s.label}</title></rect>`,
      );
      base += n;
    });
  }
  const end = h.start + h.buckets * h.stepMs;
  const axis = html`<line x1="${PAD.left}" y1="${PAD.top + innerH}" x2="${W - PAD.right}" y2="${PAD.top + innerH}" stroke="#888" stroke-width="1"/>
    <line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${PAD.top + innerH}" stroke="#888" stroke-width="1"/>
    <text x="${PAD.left - 4}" y="${PAD.top + 10}" text-anchor="end" font-size="11" fill="currentColor">${max}</text>
    <text x="${PAD.left - 4}" y="${PAD.top + innerH}" text-anchor="end" font-size="11" fill="currentColor">0</text>
    <text x="${PAD.left}" y="${H - 6}" font-size="11" fill="currentColor">${fmtTime(h.start)}</text>
    <text x="${W - PAD.right}" y="${H - 6}" text-anchor="end" font-size="11" fill="currentColor">${fmtTime(end)}</text>`;
  const total = h.series.reduce((sum, s) => sum + s.total, 0);
  return html`<figure class="bp-chart" data-testid="letters-chart">
    <svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-labelledby="letters-chart-title" xmlns="http://www.w3.org/2000/svg">
      <title id="letters-chart-title">${total} dead letters per error group, ${stepText(h.stepMs)} per bar, ${fmtTime(h.start)} to ${fmtTime(end)}</title>
      ${axis}${bars}
    </svg>
    <figcaption><ul class="bp-legend" data-testid="letters-chart-legend">${h.series.map(
      (s, i) =>
        html`<li data-fingerprint="${s.fingerprint}"><svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" fill="${colour(i, s)}"/></svg> ${s.label} <span class="muted">(${s.total})</span></li>`,
    )}</ul><p class="muted">Letters per ${stepText(h.stepMs)}, by when their job failed for good.</p></figcaption>
  </figure>`;
}
