import type { Queue } from 'bullmq';
import { Gauge, Registry as PromRegistry } from 'prom-client';
import { type CounterSeries, FastCounter, FastHistogram, type HistogramSeries } from './fast-metrics.ts';
import { isDeadLetterQueue } from './keys.ts';

const LABELS = ['queue', 'job'] as const;

/** The series of one job (queue and name), looked up once and kept by producers and workers. */
export interface JobSeries {
  readonly enqueued: CounterSeries;
  readonly deduplicated: CounterSeries;
  readonly completed: CounterSeries;
  readonly failed: CounterSeries;
  readonly replayed: CounterSeries;
  readonly enqueueSeconds: HistogramSeries;
  readonly completedSeconds: HistogramSeries;
  readonly failedSeconds: HistogramSeries;
}

/** Bullpen's Prometheus metrics. One set per process; pass it to producers, workers and admins. */
export interface JobMetrics {
  /** The prom-client registry they are on: serve `register.metrics()` at `/metrics`. */
  readonly register: PromRegistry;
  readonly enqueued: FastCounter<'queue' | 'job'>;
  readonly deduplicated: FastCounter<'queue' | 'job'>;
  readonly refused: FastCounter<'queue' | 'job' | 'code'>;
  readonly completed: FastCounter<'queue' | 'job'>;
  readonly failed: FastCounter<'queue' | 'job'>;
  readonly deadLettered: FastCounter<'queue' | 'job' | 'code'>;
  readonly replayed: FastCounter<'queue' | 'job'>;
  readonly processingSeconds: FastHistogram<'queue' | 'job' | 'outcome'>;
  readonly enqueueSeconds: FastHistogram<'queue' | 'job'>;
  /** Alerts fired by this process (see `createAlerts`), by kind and queue. */
  readonly alerts: FastCounter<'kind' | 'queue'>;
  /** The series of one job. */
  forJob(queue: string, job: string): JobSeries;
  /** Reports queue depth by state (dead letters included) for these queues at each scrape. */
  watchQueues(queues: readonly Queue[]): void;
}

/** Creates the metric set on its own prom-client registry (or the one given). */
export function createMetrics(register: PromRegistry = new PromRegistry()): JobMetrics {
  const watched = new Set<Queue>();
  new Gauge({
    name: 'bullpen_queue_jobs',
    help: 'Jobs in a queue by state; dead-letter queues are <queue>.dead',
    labelNames: ['queue', 'state'],
    registers: [register],
    async collect() {
      this.reset();
      await Promise.all(
        [...watched].map(async (q) => {
          try {
            const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed');
            for (const [state, n] of Object.entries(counts)) this.set({ queue: q.name, state }, n);
          } catch {
            // Redis unreachable: report nothing rather than failing the whole scrape.
          }
        }),
      );
    },
  });
  new Gauge({
    name: 'bullpen_queue_workers',
    help: 'Workers connected to a queue (BullMQ counts them from CLIENT LIST); dead-letter queues have none',
    labelNames: ['queue'],
    registers: [register],
    async collect() {
      this.reset();
      await Promise.all(
        [...watched]
          .filter((q) => !isDeadLetterQueue(q.name))
          .map(async (q) => {
            try {
              this.set({ queue: q.name }, await q.getWorkersCount());
            } catch {
              // As above: no figure rather than a failed scrape.
            }
          }),
      );
    },
  });
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new FastCounter({ name, help, labelNames }, register);
  const m = {
    register,
    enqueued: counter('bullpen_jobs_enqueued_total', 'Jobs enqueued', LABELS),
    deduplicated: counter(
      'bullpen_jobs_deduplicated_total',
      'Enqueues answered with an existing job (same idempotency key)',
      LABELS,
    ),
    refused: counter(
      'bullpen_jobs_refused_total',
      'Enqueues refused (invalid payload, queue full, Redis unavailable)',
      ['queue', 'job', 'code'] as const,
    ),
    completed: counter('bullpen_jobs_completed_total', 'Jobs completed', LABELS),
    failed: counter('bullpen_jobs_failed_total', 'Failed attempts', LABELS),
    deadLettered: counter('bullpen_jobs_dead_lettered_total', 'Jobs written to a dead-letter queue', [
      'queue',
      'job',
      'code',
    ] as const),
    replayed: counter('bullpen_jobs_replayed_total', 'Dead letters replayed', LABELS),
    alerts: counter('bullpen_alerts_fired_total', 'Alerts fired by this process, by kind and queue', [
      'kind',
      'queue',
    ] as const),
    processingSeconds: new FastHistogram(
      {
        name: 'bullpen_job_processing_seconds',
        help: 'Handler time per attempt',
        labelNames: ['queue', 'job', 'outcome'] as const,
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      },
      register,
    ),
    enqueueSeconds: new FastHistogram(
      {
        name: 'bullpen_enqueue_seconds',
        help: 'Time to enqueue a job (validation, back-pressure, Redis)',
        labelNames: LABELS,
        buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      },
      register,
    ),
  };
  const series = new Map<string, JobSeries>();
  return {
    ...m,
    forJob(queue, job) {
      const key = `${queue}\u0000${job}`;
      let s = series.get(key);
      if (!s) {
        s = {
          enqueued: m.enqueued.labels(queue, job),
          deduplicated: m.deduplicated.labels(queue, job),
          completed: m.completed.labels(queue, job),
          failed: m.failed.labels(queue, job),
          replayed: m.replayed.labels(queue, job),
          enqueueSeconds: m.enqueueSeconds.labels(queue, job),
          completedSeconds: m.processingSeconds.labels(queue, job, 'completed'),
          failedSeconds: m.processingSeconds.labels(queue, job, 'failed'),
        };
        series.set(key, s);
      }
      return s;
    },
    watchQueues(queues) {
      for (const q of queues) watched.add(q);
    },
  };
}
