import { waitFor } from '@bullpen/test-utils';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createProducer, createWorker, defineJob, defineRegistry } from '../src/index.ts';
import { useJobsTest } from './helpers.ts';

const payload = z.object({ n: z.number() });
const limited = defineJob({ name: 'api.call', queue: 'api', payload, rateLimit: { max: 2, durationMs: 1000 } });

describe('rate limits, defined', () => {
  it('refuses jobs sharing a queue that disagree on its rate limit, or a bad one', () => {
    const same = defineJob({ name: 'api.other', queue: 'api', payload, rateLimit: { max: 2, durationMs: 1000 } });
    const registry = defineRegistry([limited, same]);
    expect(registry.rateLimitOf('api')).toEqual({ max: 2, durationMs: 1000 });
    const faster = defineJob({ name: 'api.fast', queue: 'api', payload, rateLimit: { max: 5, durationMs: 1000 } });
    expect(() => defineRegistry([limited, faster])).toThrow(/share queue "api" but not its rateLimit/);
    const unlimited = defineJob({ name: 'api.free', queue: 'api', payload });
    expect(() => defineRegistry([limited, unlimited])).toThrow(/2 per 1000 ms vs none/);
    expect(() => defineJob({ name: 'a.b', queue: 'q', payload, rateLimit: { max: 0, durationMs: 10 } })).toThrow(
      /rateLimit/,
    );
  });
});

describe('rate limits on a real Redis', () => {
  const t = useJobsTest();

  it('starts at most max jobs per window across two workers of the queue', async () => {
    const registry = defineRegistry([limited]);
    const starts: number[] = [];
    const workers = [0, 1].map(() =>
      createWorker(
        registry,
        { 'api.call': () => void starts.push(Date.now()) },
        { connection: t.connect('worker'), prefix: t.prefix, concurrency: 4 },
      ),
    );
    for (const w of workers) t.defer(() => w.close({ deadlineMs: 1000 }));
    expect(workers[0]!.workers[0]!.opts.limiter).toEqual({ max: 2, duration: 1000 });
    await Promise.all(workers.map((w) => w.waitUntilReady()));
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    await producer.enqueueBulk(Array.from({ length: 6 }, (_, n) => ({ name: 'api.call' as const, payload: { n } })));
    await waitFor(() => starts.length === 6, 30_000, 'six jobs');
    starts.sort((a, b) => a - b);
    // Three windows of two: the fifth job cannot start before two windows have passed since the first (unlimited,
    // all six would start within a few ms). Lower bounds only, with room for the time between BullMQ's counter
    // and the handler's first line on a loaded machine.
    const spread = starts[5]! - starts[0]!;
    console.info(`rate limit 2 per 1000 ms: 6 jobs started over ${spread} ms`);
    expect(starts[4]! - starts[0]!).toBeGreaterThanOrEqual(1500);
    expect(starts[2]! - starts[0]!).toBeGreaterThanOrEqual(500);
  });
});
