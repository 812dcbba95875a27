import { waitFor } from '@bullpen/test-utils';
import { SpanKind } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createProducer, createWorker, defineJob, defineRegistry, type JobContext } from '../src/index.ts';
import { RecordingTelemetry } from './fixtures/recording-telemetry.ts';
import { useJobsTest } from './helpers.ts';

const first = defineJob({
  name: 'chain.first',
  queue: 'chain',
  payload: z.object({ id: z.string() }),
  idempotencyKey: (p) => p.id,
});
const second = defineJob({ name: 'chain.second', queue: 'chain-next', payload: z.object({ id: z.string() }) });
const registry = defineRegistry([first, second]);

describe('telemetry', () => {
  const t = useJobsTest();

  it('traces enqueue and processing as one trace, a job enqueued by a handler included, with onJobStart inside the span', async () => {
    const telemetry = new RecordingTelemetry();
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix, telemetry });
    const inner = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix, telemetry });
    const started: { name: string; spanId?: string; attempt: number; key?: string }[] = [];
    const done: string[] = [];
    const worker = createWorker(
      registry,
      {
        'chain.first': async (p) => {
          await inner.enqueue('chain.second', { id: p.id });
        },
        'chain.second': (p) => {
          done.push(p.id);
        },
      },
      {
        connection: t.connect('worker'),
        prefix: t.prefix,
        telemetry,
        onJobStart: (_payload: unknown, ctx: JobContext) => {
          started.push({
            name: ctx.job.name,
            spanId: telemetry.activeSpan()?.spanId,
            attempt: ctx.attempt,
            ...(ctx.job.idempotencyKey ? { key: ctx.job.idempotencyKey } : {}),
          });
        },
      },
    );
    t.defer(() => worker.close({ deadlineMs: 1000 }));
    t.defer(() => producer.close());
    t.defer(() => inner.close());

    await producer.enqueue('chain.first', { id: 'a1' });
    await waitFor(() => done.includes('a1'), 20_000, 'the chained job to run');
    // Spans end just after the job completes.
    const spans = await waitFor(() => {
      const ended = telemetry.spans.filter((s) => s.ended);
      const find = (name: string) => ended.find((s) => s.name === name);
      const all = {
        addFirst: find('add chain.chain.first'),
        processFirst: find('process chain'),
        addSecond: find('add chain-next.chain.second'),
        processSecond: find('process chain-next'),
      };
      return Object.values(all).every(Boolean) ? all : undefined;
    }, 10_000);

    const { addFirst, processFirst, addSecond, processSecond } = spans as Required<typeof spans>;
    expect(addFirst!.kind).toBe(SpanKind.PRODUCER);
    expect(processFirst!.kind).toBe(SpanKind.CONSUMER);
    // One trace: enqueue → process → the handler's enqueue → its processing.
    expect(new Set([addFirst, processFirst, addSecond, processSecond].map((s) => s!.traceId)).size).toBe(1);
    expect(processFirst!.parentId).toBe(addFirst!.spanId);
    expect(addSecond!.parentId).toBe(processFirst!.spanId);
    expect(processSecond!.parentId).toBe(addSecond!.spanId);
    expect(processFirst!.attributes).toMatchObject({ 'bullmq.queue.name': 'chain', 'bullmq.job.name': 'chain.first' });

    // onJobStart ran inside each attempt's span, with the handler's context.
    expect(started).toEqual([
      { name: 'chain.first', spanId: processFirst!.spanId, attempt: 1, key: 'a1' },
      { name: 'chain.second', spanId: processSecond!.spanId, attempt: 1 },
    ]);
  });

  it('runs with no telemetry and no hook as before: nothing traced', async () => {
    const telemetry = new RecordingTelemetry();
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    const done: string[] = [];
    const worker = createWorker(
      registry,
      {
        'chain.first': (p) => {
          done.push(p.id);
        },
      },
      { connection: t.connect('worker'), prefix: t.prefix, queues: ['chain'] },
    );
    t.defer(() => worker.close({ deadlineMs: 1000 }));
    t.defer(() => producer.close());
    await producer.enqueue('chain.first', { id: 'b1' });
    await waitFor(() => done.includes('b1'), 20_000, 'the job to run');
    expect(telemetry.spans).toEqual([]);
  });

  it('logs a throwing onJobStart and runs the job anyway', async () => {
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    const done: string[] = [];
    const worker = createWorker(
      registry,
      {
        'chain.first': (p) => {
          done.push(p.id);
        },
      },
      {
        connection: t.connect('worker'),
        prefix: t.prefix,
        queues: ['chain'],
        onJobStart: () => {
          throw new Error('hook broke');
        },
      },
    );
    t.defer(() => worker.close({ deadlineMs: 1000 }));
    t.defer(() => producer.close());
    await producer.enqueue('chain.first', { id: 'c1' });
    await waitFor(() => done.includes('c1'), 20_000, 'the job to run despite the hook');
  });
});
