import { Writable } from 'node:stream';
import { waitFor } from '@bullpen/test-utils';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createJobAdmin,
  createProducer,
  createWorker,
  defineJob,
  defineRegistry,
  type Handler,
  loggerOptions,
  type RedisClient,
} from '../src/index.ts';
import { formatLogLine } from '../src/job-log.ts';
import { useJobsTest } from './helpers.ts';

const chatty = defineJob({
  name: 'chatty.run',
  queue: 'chatty',
  payload: z.object({ id: z.string(), lines: z.number().int().default(0) }),
  attempts: 2,
  backoff: { type: 'fixed', delay: 20 },
});
const registry = defineRegistry([chatty]);

/** A pino logger with the framework's options (redaction included) that also keeps what it writes. */
function capturingLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  return { logger: pino({ ...loggerOptions({ name: 'test', level: 'debug' }) }, stream), lines };
}

/** Counts the pipelines sent on a connection (each is one round trip). */
function countPipelines(client: RedisClient): () => number {
  let n = 0;
  const original = client.pipeline.bind(client);
  client.pipeline = ((...args: Parameters<typeof original>) => {
    n++;
    return original(...args);
  }) as typeof client.pipeline;
  return () => n;
}

describe('per-job logs', () => {
  const t = useJobsTest();

  function setup(handle: Handler<z.output<typeof chatty.payload>>, jobLogs?: { maxLines?: number } | false) {
    const { logger, lines } = capturingLogger();
    const connection = t.connect('worker');
    const pipelines = countPipelines(connection);
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    const worker = createWorker(
      registry,
      { 'chatty.run': handle },
      { connection, prefix: t.prefix, logger, ...(jobLogs !== undefined ? { jobLogs } : {}) },
    );
    t.defer(() => worker.close({ deadlineMs: 1000 }));
    t.defer(() => producer.close());
    const queue = producer.queue('chatty');
    const finished = (id: string) =>
      waitFor(async () => {
        const job = await queue.getJob(id);
        return job?.finishedOn ? job : undefined;
      }, 20_000);
    return { producer, queue, lines, pipelines, finished };
  }

  it('writes a handler’s lines at info and above to the job’s log, short, redacted, children included, and stdout as before', async () => {
    const { producer, queue, lines, finished } = setup(async (p, ctx) => {
      ctx.log.debug('not in the job log');
      ctx.log.info({ uploadId: p.id, user: { password: 'hunter2' } }, 'upload.started');
      ctx.log.child({ step: 'resize' }).warn({ err: new Error('slow disk') }, 'step.slow');
    });
    const { jobId } = await producer.enqueue('chatty.run', { id: 'u1' });
    await finished(jobId);
    const { logs, count } = await queue.getJobLogs(jobId);
    expect(count).toBe(2);
    expect(logs[0]).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info upload\.started \{"uploadId":"u1","user":\{"password":"\[redacted\]"\}\}$/,
    );
    expect(logs[1]).toMatch(/ warn step\.slow \{"step":"resize","err":"Error: slow disk"\}$/);
    // stdout still gets every line, with the job's bindings.
    const out = lines.map((l) => JSON.parse(l) as { msg: string; jobId?: string });
    expect(out.filter((l) => l.jobId === jobId).map((l) => l.msg)).toEqual(
      expect.arrayContaining(['not in the job log', 'upload.started', 'step.slow', 'job.completed']),
    );
  });

  it('bounds the lines of an attempt, says how many it left out, and sends them in batches', async () => {
    const { producer, queue, pipelines, finished } = setup(async (p, ctx) => {
      for (let i = 0; i < p.lines; i++) ctx.log.info({ i }, 'line');
    });
    const before = pipelines();
    const { jobId } = await producer.enqueue('chatty.run', { id: 'u2', lines: 65 });
    await finished(jobId);
    const { logs } = await queue.getJobLogs(jobId);
    expect(logs).toHaveLength(51);
    expect(logs[49]).toMatch(/ info line \{"i":49\}$/);
    expect(logs[50]).toBe('… 15 more lines');
    // 50 lines in batches of 20: three round trips, not fifty.
    expect(pipelines() - before).toBe(3);
  });

  it('keeps the final attempt’s last lines in the dead letter', async () => {
    const { producer, queue, finished } = setup(async (p, ctx) => {
      for (let i = 0; i < p.lines; i++) ctx.log.info(`attempt ${ctx.attempt} line ${i}`);
      throw new Error('always fails');
    });
    const admin = createJobAdmin(registry, { connection: t.connect('admin'), prefix: t.prefix });
    t.defer(() => admin.close());
    const { jobId } = await producer.enqueue('chatty.run', { id: 'u3', lines: 25 });
    await finished(jobId);
    const { letter } = await waitFor(() => admin.getDeadLetter(jobId).catch(() => undefined), 10_000);
    expect(letter.logs).toHaveLength(20);
    expect(letter.logs![0]).toMatch(/ info attempt 2 line 5$/);
    expect(letter.logs![19]).toMatch(/ info attempt 2 line 24$/);
    // The job's own log has both attempts.
    const { logs } = await queue.getJobLogs(jobId);
    expect(logs.filter((l) => l.includes('attempt 1 '))).toHaveLength(25);
    expect(logs.filter((l) => l.includes('attempt 2 '))).toHaveLength(25);
  });

  it('costs a job that logs nothing no command, and can be turned off', async () => {
    const quiet = setup(async () => {});
    const before = quiet.pipelines();
    const { jobId } = await quiet.producer.enqueue('chatty.run', { id: 'u4' });
    await quiet.finished(jobId);
    expect(quiet.pipelines() - before).toBe(0);
    expect((await quiet.queue.getJobLogs(jobId)).count).toBe(0);
  });

  it('writes nothing to the job’s log with jobLogs: false', async () => {
    const { producer, queue, finished } = setup(async (_p, ctx) => {
      ctx.log.info('stdout only');
    }, false);
    const { jobId } = await producer.enqueue('chatty.run', { id: 'u5' });
    await finished(jobId);
    expect((await queue.getJobLogs(jobId)).count).toBe(0);
  });
});

describe('formatLogLine', () => {
  it('keeps time, level, message and the line’s own fields, and cuts long ones', () => {
    const raw = JSON.stringify({
      level: 50,
      time: Date.UTC(2026, 11, 3, 10, 0, 0),
      pid: 1,
      hostname: 'h',
      queue: 'q',
      jobId: '1',
      attempt: 1,
      trace_id: 'abc',
      msg: 'boom',
      detail: 'x'.repeat(600),
    });
    const line = formatLogLine(raw);
    expect(line.startsWith('2026-12-03T10:00:00.000Z error boom {"detail":"xxx')).toBe(true);
    expect(line.endsWith('…')).toBe(true);
    expect(line.length).toBeLessThan(500);
    expect(formatLogLine(JSON.stringify({ level: 30, time: 0, msg: 'plain' }))).toBe(
      '1970-01-01T00:00:00.000Z info plain',
    );
  });
});
