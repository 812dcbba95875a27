import { waitFor } from '@bullpen/test-utils';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import {
  createJobAdmin,
  createProducer,
  createWorker,
  defineEvent,
  defineJob,
  defineRegistry,
  defineSchedule,
  type EventName,
  JobPayloadInvalidError,
  type Registry,
  schedulerIdFor,
} from '../src/index.ts';
import { useJobsTest } from './helpers.ts';

const report = defineJob({
  name: 'report.build',
  queue: 'reports',
  payload: z.object({ kind: z.enum(['daily', 'hourly']), rows: z.number().int().default(10) }),
  idempotencyKey: (p) => p.kind,
});
const cleanup = defineJob({
  name: 'store.cleanup',
  queue: 'maintenance',
  payload: z.object({ olderThanDays: z.number() }),
});

const tick = defineSchedule({ name: 'report.tick', job: report, payload: { kind: 'hourly' }, everyMs: 400 });
const nightly = defineSchedule({
  name: 'report.nightly',
  job: report,
  payload: { kind: 'daily', rows: 500 },
  cron: '0 3 * * *',
  tz: 'Europe/Berlin',
  description: 'The daily report, at 3 in Berlin',
});
const sweep = defineSchedule({
  name: 'store.sweep',
  job: cleanup,
  payload: { olderThanDays: 30 },
  cron: '*/5 * * * *',
});

describe('defineSchedule and the registry', () => {
  it('parses the payload with the job schema when the schedule is defined, and refuses a bad one then', () => {
    expect(tick.payload).toEqual({ kind: 'hourly', rows: 10 });
    expect(nightly).toMatchObject({ cron: '0 3 * * *', tz: 'Europe/Berlin' });
    expect(sweep.tz).toBe('UTC');
    const bad = () =>
      defineSchedule({
        name: 'report.bad',
        job: report,
        // @ts-expect-error: not a kind
        payload: { kind: 'weekly' },
        everyMs: 1000,
      });
    expect(bad).toThrow(JobPayloadInvalidError);
  });

  it('refuses a bad cron pattern, an unknown time zone, both timings or none', () => {
    const base = { name: 'report.x', job: report, payload: { kind: 'daily' as const } };
    expect(() => defineSchedule({ ...base, cron: 'every morning' })).toThrow(/bad cron pattern/);
    expect(() => defineSchedule({ ...base, cron: '61 * * * *' })).toThrow(/bad cron pattern/);
    expect(() => defineSchedule({ ...base, cron: '0 3 * * *', tz: 'Mars/Olympus' })).toThrow(/unknown time zone/);
    // @ts-expect-error: cron or everyMs, not both
    expect(() => defineSchedule({ ...base, cron: '0 3 * * *', everyMs: 5 })).toThrow(/not both/);
    // @ts-expect-error: a timing is required
    expect(() => defineSchedule(base)).toThrow(/needs cron or everyMs/);
    expect(() => defineSchedule({ ...base, everyMs: 0 })).toThrow(/everyMs/);
  });

  it('takes schedules in the options form, keeps the array form for events, and checks both name jobs it has', () => {
    const announce = defineEvent({
      name: 'report.ready',
      payload: z.object({ kind: z.string() }),
      subscribers: [cleanup],
    });
    const withOptions = defineRegistry([report, cleanup], { events: [announce], schedules: [tick, sweep] });
    expect(withOptions.schedules.map((s) => s.name)).toEqual(['report.tick', 'store.sweep']);
    expect(Object.keys(withOptions.events)).toEqual(['report.ready']);
    // The options form types its events as the array form does.
    expectTypeOf<EventName<typeof withOptions>>().toEqualTypeOf<'report.ready'>();
    const arrayForm = defineRegistry([report, cleanup], [announce]);
    expect(Object.keys(arrayForm.events)).toEqual(['report.ready']);
    expect(arrayForm.schedules).toEqual([]);
    expectTypeOf<EventName<typeof arrayForm>>().toEqualTypeOf<'report.ready'>();
    expect(() => defineRegistry([cleanup], { schedules: [tick] })).toThrow(/not in the registry/);
    expect(() => defineRegistry([report], { schedules: [tick, tick] })).toThrow(/defined twice/);
  });
});

describe('schedules on a real Redis', () => {
  const t = useJobsTest();

  function startWorker(registry: Registry, seen: { id: string; payload: unknown; schedule?: string }[]) {
    const worker = createWorker(
      registry as typeof full,
      {
        'report.build': async (payload, ctx) => {
          seen.push({ id: ctx.job.id, payload, ...(ctx.job.schedule ? { schedule: ctx.job.schedule } : {}) });
        },
        'store.cleanup': async () => {},
      },
      { connection: t.connect('worker'), prefix: t.prefix, concurrency: 2 },
    );
    t.defer(() => worker.close({ deadlineMs: 1000 }));
    return worker;
  }
  const full = defineRegistry([report, cleanup], { schedules: [tick, nightly, sweep] });

  it('N workers keep one scheduler per schedule, and each run is one job handled once', async () => {
    const seen: { id: string; payload: unknown; schedule?: string }[] = [];
    const workers = [startWorker(full, seen), startWorker(full, seen), startWorker(full, seen)];
    await Promise.all(workers.map((w) => w.waitUntilReady()));
    const producer = createProducer(full, { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    const schedulers = await producer.queue('reports').getJobSchedulers(0, -1);
    expect(schedulers.map((s) => s.key).sort()).toEqual([
      schedulerIdFor('report.nightly'),
      schedulerIdFor('report.tick'),
    ]);
    expect(await producer.queue('maintenance').getJobSchedulersCount()).toBe(1);

    await waitFor(() => seen.length >= 4, 30_000, 'four runs of the 400 ms schedule');
    const ids = seen.map((s) => s.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(seen[0]).toMatchObject({ payload: { kind: 'hourly', rows: 10 }, schedule: 'report.tick' });
    // Each run is new work: no idempotency key, so the key-derived "already done" never skips a run.
    const first = await producer.queue('reports').getJob(ids[0]!);
    expect(first!.data.meta).toEqual({ schedule: 'report.tick' });
  });

  it('lists schedules with their next run times, in the time zone given', async () => {
    const worker = startWorker(full, []);
    await worker.waitUntilReady();
    const admin = createJobAdmin(full, { connection: t.connect('admin'), prefix: t.prefix });
    t.defer(() => admin.close());
    const list = await admin.listSchedules();
    expect(list.map((s) => s.name).sort()).toEqual(['report.nightly', 'report.tick', 'store.sweep']);
    const n = list.find((s) => s.name === 'report.nightly')!;
    expect(n).toMatchObject({
      job: 'report.build',
      queue: 'reports',
      cron: '0 3 * * *',
      tz: 'Europe/Berlin',
      description: 'The daily report, at 3 in Berlin',
      inRegistry: true,
      scheduled: true,
    });
    const next = new Date(n.next!);
    expect(next.getTime()).toBeGreaterThan(Date.now());
    expect(next.getTime() - Date.now()).toBeLessThanOrEqual(24 * 3600_000);
    const berlin = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit' });
    expect(berlin.format(next)).toBe('03:00');
    expect(list.find((s) => s.name === 'report.tick')).toMatchObject({ everyMs: 400, scheduled: true });
  });

  it('removes the schedulers Bullpen made that the registry dropped, only on the queues served, never foreign ones', async () => {
    const first = startWorker(full, []);
    await first.waitUntilReady();
    await first.close({ deadlineMs: 1000 });
    const producer = createProducer(full, { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    // Someone else's scheduler on the same queue.
    await producer.queue('reports').upsertJobScheduler('their-own', { every: 60_000 }, { name: 'report.build' });

    const trimmed = defineRegistry([report, cleanup], { schedules: [nightly] });
    const admin = createJobAdmin(trimmed, { connection: t.connect('admin'), prefix: t.prefix });
    t.defer(() => admin.close());
    // Before a worker of the trimmed registry starts, the dropped ones are listed as not in the registry.
    const before = await admin.listSchedules();
    expect(before.find((s) => s.name === 'report.tick')).toMatchObject({ inRegistry: false, scheduled: true });

    // A worker serving only `reports` cleans `reports` and leaves `maintenance` to the workers serving it.
    const worker = createWorker(
      trimmed,
      { 'report.build': async () => {} },
      { connection: t.connect('worker'), prefix: t.prefix, queues: ['reports'] },
    );
    t.defer(() => worker.close({ deadlineMs: 1000 }));
    await worker.waitUntilReady();
    const reports = (await producer.queue('reports').getJobSchedulers(0, -1)).map((s) => s.key).sort();
    expect(reports).toEqual([schedulerIdFor('report.nightly'), 'their-own']);
    expect((await producer.queue('maintenance').getJobSchedulers(0, -1)).map((s) => s.key)).toEqual([
      schedulerIdFor('store.sweep'),
    ]);
    // The dropped schedule's pending run went with it.
    const delayed = await producer.queue('reports').getJobs(['delayed', 'waiting']);
    expect(delayed.filter((j) => j.id?.includes(schedulerIdFor('report.tick')))).toEqual([]);
  });
});
