import { waitFor } from '@bullpen/test-utils';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import {
  checkPayload,
  createJobAdmin,
  createProducer,
  createWorker,
  defineJob,
  defineRegistry,
  letterIdFor,
  migratePayload,
  PayloadMigrationError,
  PayloadTooNewError,
  PermanentJobError,
} from '../src/index.ts';
import { useJobsTest } from './helpers.ts';

// The same job across three deploys: v1 had one `url`, v2 a list, v3 named the list and added a timeout.
const v1 = defineJob({
  name: 'link.check',
  queue: 'links',
  payload: z.object({ url: z.string() }),
  attempts: 2,
  backoff: { type: 'fixed', delay: 50 },
  idempotencyKey: (p) => p.url,
});
const v2 = defineJob({
  name: 'link.check',
  queue: 'links',
  payload: z.object({ urls: z.array(z.string()).min(1) }),
  attempts: 2,
  backoff: { type: 'fixed', delay: 50 },
  version: 2,
  migrate: {
    1: (old: { url: string }) => ({ urls: [old.url] }),
  },
});
const v3 = defineJob({
  name: 'link.check',
  queue: 'links',
  payload: z.object({ targets: z.array(z.string()).min(1), timeoutMs: z.number().default(5000) }),
  attempts: 2,
  backoff: { type: 'fixed', delay: 50 },
  version: 3,
  migrate: {
    1: (old: { url: string }) => ({ urls: [old.url] }),
    2: (old: { urls: string[] }) => ({ targets: old.urls }),
  },
});

describe('payload versions, defined', () => {
  it('types the last migration step with the schema input, and requires a step per older version', () => {
    expectTypeOf(v3.version).toEqualTypeOf<number>();
    defineJob({
      name: 'a.b',
      queue: 'q',
      payload: z.object({ n: z.number() }),
      version: 2,
      // @ts-expect-error: the last step must produce the current schema's input
      migrate: { 1: (old: { s: string }) => ({ n: old.s }) },
    });
    // @ts-expect-error: version 2 needs migrate[1]
    expect(() => defineJob({ name: 'a.b', queue: 'q', payload: z.object({}), version: 2 })).toThrow(
      /needs migrate\[1\]/,
    );
    expect(() =>
      // @ts-expect-error: version 1 has nothing to migrate from
      defineJob({ name: 'a.b', queue: 'q', payload: z.object({}), migrate: { 1: () => ({}) } }),
    ).toThrow(/no version to migrate to/);
    expect(() => defineJob({ name: 'a.b', queue: 'q', payload: z.object({}), version: 0 })).toThrow(/version/);
    // Undeclared, an old payload is `unknown`: it must be narrowed before use.
    defineJob({
      name: 'a.b',
      queue: 'q',
      payload: z.object({ n: z.number() }),
      version: 2,
      migrate: {
        1: (old) => {
          expectTypeOf(old).toEqualTypeOf<unknown>();
          return { n: Number((old as { s: string }).s) };
        },
      },
    });
  });

  it('migrates step by step, refuses a newer version, and wraps a throwing step in its own code', () => {
    expect(migratePayload(v3, { url: 'a' }, 1)).toEqual({ targets: ['a'] });
    expect(migratePayload(v3, { urls: ['a', 'b'] }, 2)).toEqual({ targets: ['a', 'b'] });
    expect(migratePayload(v3, { targets: ['x'] }, 3)).toEqual({ targets: ['x'] });
    expect(() => migratePayload(v2, { targets: ['x'] }, 3)).toThrow(PayloadTooNewError);
    const err = (() => {
      try {
        migratePayload(v3, null, 1);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(PayloadMigrationError);
    expect(err).toBeInstanceOf(PermanentJobError);
    expect(err).toMatchObject({ code: 'JOB_PAYLOAD_MIGRATION_FAILED', fromVersion: 1 });
    expect(checkPayload(v3, { url: 'a' }, 1)).toEqual({
      ok: true,
      payload: { targets: ['a'], timeoutMs: 5000 },
      migrated: true,
    });
    expect(checkPayload(v3, { urls: [] }, 2)).toMatchObject({ ok: false, code: 'JOB_PAYLOAD_INVALID' });
    expect(checkPayload(v2, {}, 7)).toMatchObject({ ok: false, code: 'JOB_PAYLOAD_TOO_NEW' });
  });
});

describe('payload versions on a real Redis', () => {
  const t = useJobsTest();

  it('a job enqueued under v1 is migrated and processed by a worker on v2', async () => {
    const old = defineRegistry([v1]);
    const producer = createProducer(old, { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    const { jobId } = await producer.enqueue('link.check', { url: 'https://a.example' });
    const queued = await producer.queue('links').getJob(jobId);
    // Version 1 is the default and leaves nothing in the envelope.
    expect(queued!.data.meta.v).toBeUndefined();

    const seen: unknown[] = [];
    const worker = createWorker(
      defineRegistry([v2]),
      { 'link.check': (p) => void seen.push(p) },
      { connection: t.connect('worker'), prefix: t.prefix },
    );
    t.defer(() => worker.close({ deadlineMs: 1000 }));
    await waitFor(async () => (await producer.queue('links').getJob(jobId))?.finishedOn, 30_000, 'the job');
    expect(seen).toEqual([{ urls: ['https://a.example'] }]);
    expect(await (await producer.queue('links').getJob(jobId))!.getState()).toBe('completed');
  });

  it('stamps the version a producer enqueued under; a worker of an older version dead-letters it as too new', async () => {
    const producer = createProducer(defineRegistry([v3]), { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    const { jobId } = await producer.enqueue('link.check', { targets: ['x'] });
    expect((await producer.queue('links').getJob(jobId))!.data.meta.v).toBe(3);
    const worker = createWorker(
      defineRegistry([v2]),
      { 'link.check': () => {} },
      { connection: t.connect('worker'), prefix: t.prefix },
    );
    t.defer(() => worker.close({ deadlineMs: 1000 }));
    const letter = await waitFor(() => producer.queue('links.dead').getJob(letterIdFor(jobId)), 30_000, 'the letter');
    expect(letter.data).toMatchObject({ code: 'JOB_PAYLOAD_TOO_NEW', attempts: [{ attempt: 1 }] });
  });

  it('a migration that throws is a permanent failure with its own code, dead-lettered at once', async () => {
    const producer = createProducer(defineRegistry([v1]), { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    const { jobId } = await producer.enqueue('link.check', { url: 'https://b.example' });
    const strict = defineJob({
      ...v2,
      version: 2,
      migrate: {
        1: () => {
          throw new Error('cannot tell which list this was');
        },
      },
    });
    const worker = createWorker(
      defineRegistry([strict]),
      { 'link.check': () => {} },
      { connection: t.connect('worker'), prefix: t.prefix },
    );
    t.defer(() => worker.close({ deadlineMs: 1000 }));
    const letter = await waitFor(() => producer.queue('links.dead').getJob(letterIdFor(jobId)), 30_000, 'the letter');
    expect(letter.data.code).toBe('JOB_PAYLOAD_MIGRATION_FAILED');
    expect(letter.data.error.message).toMatch(/from version 1 to 2 failed: cannot tell which list/);
    // One attempt although two were allowed: it was not retried.
    expect(letter.data.attempts).toHaveLength(1);
  });

  it('a v1 dead letter replayed under v2 is migrated, and the replay carries the new version', async () => {
    const producer = createProducer(defineRegistry([v1]), { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    const { jobId } = await producer.enqueue('link.check', { url: 'https://c.example' });
    const failing = createWorker(
      defineRegistry([v1]),
      {
        'link.check': () => {
          throw new Error('receiver down');
        },
      },
      { connection: t.connect('worker'), prefix: t.prefix },
    );
    await waitFor(() => producer.queue('links.dead').getJob(letterIdFor(jobId)), 30_000, 'the v1 letter');
    await failing.close({ deadlineMs: 1000 });

    const today = defineRegistry([v2]);
    const admin = createJobAdmin(today, { connection: t.connect('admin'), prefix: t.prefix });
    t.defer(() => admin.close());
    const dry = await admin.replay({ ids: [jobId] }, { actor: 'ada', dryRun: true });
    expect(dry.outcomes[0]).toMatchObject({ status: 'would-replay' });
    const seen: unknown[] = [];
    const worker = createWorker(
      today,
      { 'link.check': (p) => void seen.push(p) },
      { connection: t.connect('worker'), prefix: t.prefix },
    );
    t.defer(() => worker.close({ deadlineMs: 1000 }));
    const report = await admin.replay({ ids: [jobId] }, { actor: 'ada' });
    expect(report.outcomes[0]).toMatchObject({ status: 'replayed' });
    const replayed = await producer.queue('links').getJob(report.outcomes[0]!.newJobId!);
    expect(replayed!.data).toMatchObject({ payload: { urls: ['https://c.example'] }, meta: { v: 2, replayOf: jobId } });
    await waitFor(() => seen.length === 1, 30_000, 'the replay to run');
    expect(seen).toEqual([{ urls: ['https://c.example'] }]);
  });

  it('replay refuses (and keeps) a letter whose migration fails', async () => {
    const producer = createProducer(defineRegistry([v1]), { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    const { jobId } = await producer.enqueue('link.check', { url: 'https://d.example' });
    const failing = createWorker(
      defineRegistry([v1]),
      {
        'link.check': () => {
          throw new PermanentJobError('LINK_GONE', 'gone');
        },
      },
      { connection: t.connect('worker'), prefix: t.prefix },
    );
    await waitFor(() => producer.queue('links.dead').getJob(letterIdFor(jobId)), 30_000, 'the letter');
    await failing.close({ deadlineMs: 1000 });
    const broken = defineJob({
      ...v2,
      version: 2,
      migrate: {
        1: () => {
          throw new Error('no');
        },
      },
    });
    const admin = createJobAdmin(defineRegistry([broken]), { connection: t.connect('admin'), prefix: t.prefix });
    t.defer(() => admin.close());
    const report = await admin.replay({ ids: [jobId] }, { actor: 'ada' });
    expect(report.outcomes[0]).toMatchObject({ status: 'refused', code: 'JOB_PAYLOAD_MIGRATION_FAILED' });
    expect(await producer.queue('links.dead').getJob(letterIdFor(jobId))).toBeTruthy();
  });
});
