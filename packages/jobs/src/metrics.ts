import type { Queue } from 'bullmq';
import { Counter, Gauge, Histogram, Registry as PromRegistry } from 'prom-client';

const LABELS = ['queue', 'job'] as const;

/** Bullpen's Prometheus metrics. One set per process; pass it to producers and workers. */
export interface JobMetrics {
  readonly register: PromRegistry;
  readonly enqueued: Counter<'queue' | 'job'>;
  readonly deduplicated: Counter<'queue' | 'job'>;
  readonly refused: Counter<'queue' | 'job' | 'code'>;
  readonly completed: Counter<'queue' | 'job'>;
  readonly failed: Counter<'queue' | 'job'>;
  readonly deadLettered: Counter<'queue' | 'job' | 'code'>;
  readonly replayed: Counter<'queue' | 'job'>;
  readonly processingSeconds: Histogram<'queue' | 'job' | 'outcome'>;
  readonly enqueueSeconds: Histogram<'queue' | 'job'>;
  /** Reports queue depth by state (dead letters included) for these queues at each scrape. */
  watchQueues(queues: readonly Queue[]): void;
}

/** Creates the metric set on its own prom-client registry (or the one given). */
export function createMetrics(register: PromRegistry = new PromRegistry()): JobMetrics {
  const watched = new Set<Queue>();
  const depth = new Gauge({
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
  void depth;
  return {
    register,
    enqueued: new Counter({
      name: 'bullpen_jobs_enqueued_total',
      help: 'Jobs enqueued',
      labelNames: LABELS,
      registers: [register],
    }),
    deduplicated: new Counter({
      name: 'bullpen_jobs_deduplicated_total',
      help: 'Enqueues answered with an existing job (same idempotency key)',
      labelNames: LABELS,
      registers: [register],
    }),
    refused: new Counter({
      name: 'bullpen_jobs_refused_total',
      help: 'Enqueues refused (invalid payload, queue full, Redis unavailable)',
      labelNames: ['queue', 'job', 'code'],
      registers: [register],
    }),
    completed: new Counter({
      name: 'bullpen_jobs_completed_total',
      help: 'Jobs completed',
      labelNames: LABELS,
      registers: [register],
    }),
    failed: new Counter({
      name: 'bullpen_jobs_failed_total',
      help: 'Failed attempts',
      labelNames: LABELS,
      registers: [register],
    }),
    deadLettered: new Counter({
      name: 'bullpen_jobs_dead_lettered_total',
      help: 'Jobs written to a dead-letter queue',
      labelNames: ['queue', 'job', 'code'],
      registers: [register],
    }),
    replayed: new Counter({
      name: 'bullpen_jobs_replayed_total',
      help: 'Dead letters replayed',
      labelNames: LABELS,
      registers: [register],
    }),
    processingSeconds: new Histogram({
      name: 'bullpen_job_processing_seconds',
      help: 'Handler time per attempt',
      labelNames: ['queue', 'job', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [register],
    }),
    enqueueSeconds: new Histogram({
      name: 'bullpen_enqueue_seconds',
      help: 'Time to enqueue a job (validation, back-pressure, Redis)',
      labelNames: LABELS,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [register],
    }),
    watchQueues(queues) {
      for (const q of queues) watched.add(q);
    },
  };
}
