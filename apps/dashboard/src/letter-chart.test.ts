import type { DeadLetterEntry } from '@bullpen/jobs';
import { groupLetters } from '@bullpen/jobs';
import { describe, expect, it } from 'vitest';
import { letterChart, letterHistory } from './letter-chart.ts';

const NOW = Date.UTC(2026, 11, 3, 12, 0, 0);

function entry(id: string, fingerprint: string, message: string, minutesAgo: number): DeadLetterEntry {
  return {
    id,
    queue: 'images',
    deadQueue: 'images.dead',
    letter: {
      sourceQueue: 'images',
      name: 'image.resize',
      jobId: id,
      payload: {},
      meta: {},
      code: 'IMAGE_CORRUPT',
      error: { name: 'Error', message },
      attempts: [],
      fingerprint,
      fingerprintText: message,
      enqueuedAt: new Date(NOW - minutesAgo * 60_000).toISOString(),
      failedAt: new Date(NOW - minutesAgo * 60_000).toISOString(),
    },
  };
}

describe('the letters-per-error chart', () => {
  const entries = [
    entry('a1', 'fa', 'bad header', 1),
    entry('a2', 'fa', 'bad header', 2),
    entry('a3', 'fa', 'bad header', 50),
    entry('b1', 'fb', '<script>alert(1)</script>', 30),
  ];
  const groups = groupLetters(entries);

  it('buckets letters per group from the oldest (at least an hour back) to now', () => {
    const h = letterHistory(entries, groups, { now: NOW });
    expect(h.stepMs).toBe(5 * 60_000);
    expect(h.buckets).toBeLessThanOrEqual(48);
    expect(h.series.map((s) => [s.fingerprint, s.total])).toEqual([
      ['fa', 3],
      ['fb', 1],
    ]);
    // Buckets are aligned to their size: the two recent letters share the one ending at now.
    expect(h.start + h.buckets * h.stepMs).toBeGreaterThan(NOW);
    expect(h.series[0]!.counts[h.buckets - 2]).toBe(2);
    expect(h.series[0]!.counts.reduce((a, b) => a + b, 0)).toBe(3);
  });

  it('sums the groups past the largest ones as "other"', () => {
    const h = letterHistory(entries, groups, { now: NOW, maxSeries: 1 });
    expect(h.series.map((s) => [s.fingerprint, s.total])).toEqual([['other', 4]]);
    const two = letterHistory(entries, groups, { now: NOW, maxSeries: 2 });
    expect(two.series.map((s) => [s.fingerprint, s.total])).toEqual([
      ['fa', 3],
      ['fb', 1],
    ]);
  });

  it('is inline SVG that the strict CSP allows (no style attribute, no script) and escapes error text', () => {
    const svg = letterChart(letterHistory(entries, groups, { now: NOW })).value;
    expect(svg).toContain('<svg viewBox=');
    expect(svg).not.toMatch(/\sstyle=/);
    expect(svg).not.toMatch(/<script/i);
    expect(svg).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    // One bar segment per group and bucket with letters.
    expect(svg.match(/<rect [^>]*data-fingerprint=/g)).toHaveLength(3);
  });
});
