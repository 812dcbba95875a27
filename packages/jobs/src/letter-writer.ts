import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import { buildLetter, type DeadLetter, writeLetter } from './dead-letter.ts';
import type { JobDefinition } from './define.ts';
import { errorCode, JobErrorCode } from './errors.ts';
import type { JobMetrics } from './metrics.ts';
import type { QueueSet } from './queues.ts';

export type DeadLetterHook = (letter: DeadLetter<never>) => Promise<void> | void;

export interface LetterWriterDeps {
  jobs: Readonly<Record<string, JobDefinition>>;
  queues: QueueSet;
  metrics?: JobMetrics | undefined;
  /** The hook of a job's own handler entry, if it has one. */
  hookOf(jobName: string): DeadLetterHook | undefined;
  /** Called for every letter, after the job's own hook. */
  onDeadLetter?: DeadLetterHook | undefined;
}

const WRITE_TRIES = 5;

/** Job ids are unique per queue only (BullMQ's own ids are counters): key in-process sets by both. */
export const jobRef = (job: Job) => `${job.queueName}\u0000${job.id}`;

/**
 * Writes a job's dead letter on its final failure — before BullMQ marks it failed, retrying a few times,
 * since a job must never be failed without its letter — then counts it, logs it and runs the hooks.
 */
export class LetterWriter {
  /** Jobs lettered by the processor, so the `failed` listener does not letter them again. */
  private readonly lettered = new Set<string>();

  constructor(private readonly deps: LetterWriterDeps) {}

  /**
   * Writes the letter (a no-op for a job whose definition says `deadLetter: false`, and for a cancelled job),
   * with the final attempt's last log lines when it logged; throws when it cannot.
   */
  async write(job: Job, err: Error, log: Logger, logs?: string[]): Promise<void> {
    const def = this.deps.jobs[job.name];
    // A cancelled job was asked to stop: nothing to replay.
    if ((def && !def.deadLetter) || errorCode(err) === JobErrorCode.JOB_CANCELLED) return;
    const letter = buildLetter(job, err, logs);
    await this.writeWithRetry(letter, log);
    this.lettered.add(jobRef(job));
    this.deps.metrics?.deadLettered.labels(job.queueName, job.name, letter.code).inc();
    log.warn(
      { code: letter.code, fingerprint: letter.fingerprint, attempts: letter.attempts.length },
      'job.dead_lettered',
    );
    for (const hook of [this.deps.hookOf(job.name), this.deps.onDeadLetter]) {
      if (!hook) continue;
      try {
        await hook(letter as DeadLetter<never>);
      } catch (hookErr) {
        log.error({ err: hookErr }, 'job.dead_letter_hook_failed');
      }
    }
  }

  /** Whether the processor lettered this job already (and forgets it). */
  takeLettered(job: Job): boolean {
    return this.lettered.delete(jobRef(job));
  }

  private async writeWithRetry(letter: DeadLetter, log: Logger): Promise<void> {
    for (let i = 0; ; i++) {
      try {
        await writeLetter(this.deps.queues, letter);
        return;
      } catch (writeErr) {
        if (i >= WRITE_TRIES - 1) {
          log.error({ err: writeErr }, 'job.dead_letter_write_failed');
          throw writeErr;
        }
        await new Promise((r) => setTimeout(r, 200 * 2 ** i));
      }
    }
  }
}
