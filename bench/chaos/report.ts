import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const RESULTS_DIR = path.resolve(import.meta.dirname, '../results');
const TMP = path.join(RESULTS_DIR, 'tmp/chaos');

/** Records one scenario's figures (merged into bench/results/chaos-<date>.json at the end) and prints them. */
export function recordFigures(scenario: string, figures: Record<string, unknown>): void {
  mkdirSync(TMP, { recursive: true });
  writeFileSync(path.join(TMP, `${scenario}.json`), `${JSON.stringify(figures, null, 2)}\n`);
  console.log(`[chaos] ${scenario}: ${JSON.stringify(figures)}`);
}

/** Clears figures of an earlier run. */
export function clearFigures(): void {
  mkdirSync(TMP, { recursive: true });
  for (const f of readdirSync(TMP)) writeFileSync(path.join(TMP, f), '');
}

/** Every scenario's figures name; a run that lacks one (a filtered run) is written to tmp/ only. */
export const ALL_FIGURES = [
  'kill-worker',
  'redis-crash-always',
  'redis-crash-everysec',
  'api-burst',
  'malformed-uploads',
  'foreign-payloads',
  'stall-defaults',
  'api-crash',
  'redis-maxmemory',
];

/**
 * Merges every scenario's figures of this run into one file; returns its path (undefined when none). The
 * dated file in bench/results (committed, quoted by the README) is written only by a complete run that asks
 * for it (`CHAOS_RECORD=1 pnpm test:chaos`); any other run, CI's included, writes under tmp/ (git-ignored), so
 * it leaves the working tree as it found it.
 */
export function mergeFigures(meta: Record<string, unknown>): string | undefined {
  const scenarios: Record<string, unknown> = {};
  for (const f of readdirSync(TMP).filter((n) => n.endsWith('.json'))) {
    const text = readFileSync(path.join(TMP, f), 'utf8');
    if (text.trim()) scenarios[f.replace(/\.json$/, '')] = JSON.parse(text);
  }
  if (Object.keys(scenarios).length === 0) return undefined;
  const date = new Date().toISOString().slice(0, 10);
  const complete = ALL_FIGURES.every((k) => k in scenarios);
  const record = complete && process.env.CHAOS_RECORD === '1';
  const file = record
    ? path.join(RESULTS_DIR, `chaos-${date}.json`)
    : path.join(TMP, `../chaos-${complete ? '' : 'partial-'}${date}.json`);
  writeFileSync(file, `${JSON.stringify({ ...meta, scenarios }, null, 2)}\n`);
  return file;
}
