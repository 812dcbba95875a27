import type { Job } from 'bullmq';
import { jobStateOf } from './cancel.ts';
import type { DeadLetter } from './dead-letter.ts';
import type { Registry } from './define.ts';
import type { Envelope } from './envelope.ts';
import { deadLetterQueueName, jobIdFor, letterIdFor } from './keys.ts';
import type { QueueSet } from './queues.ts';

export interface FoundJob {
  queue: string;
  id: string;
  name: string;
  state: string;
  deadLetter: boolean;
  idempotencyKey?: string;
  requestId?: string;
  timestamp: number;
  failedReason?: string;
}

/** How many replays of one job (`-r1`, `-r2`, ...) a search follows at most. */
const MAX_REPLAYS = 1000;

/**
 * Jobs and letters by job id or idempotency key, across every queue of the registry and its dead-letter
 * queue: the id as given, the id each job of the queue derives from it as a key, and their replays.
 */
export async function findJobs(registry: Registry, queues: QueueSet, term: string): Promise<FoundJob[]> {
  const found: FoundJob[] = [];
  const seen = new Set<string>();
  for (const queue of registry.queues) {
    const candidates = new Set([term, ...registry.jobsOf(queue).map((j) => jobIdFor(j.name, term))]);
    for (const qname of [queue, deadLetterQueueName(queue)]) {
      const dead = qname !== queue;
      for (const id of candidates) {
        for (const job of await withReplays(queues, qname, id, dead)) {
          if (seen.has(`${qname}/${job.id}`)) continue;
          seen.add(`${qname}/${job.id}`);
          found.push(await describe(job, qname, dead, queues));
        }
      }
    }
  }
  return found;
}

/** The job with this id, then its replays (-r1, -r2, ...) until one is missing. */
async function withReplays(queues: QueueSet, qname: string, id: string, dead: boolean): Promise<Job[]> {
  const q = queues.get(qname);
  const out: Job[] = [];
  for (let n = 0; n < MAX_REPLAYS; n++) {
    const candidate = n === 0 ? id : `${id}-r${n}`;
    const job: Job | undefined = await q.getJob(dead ? letterIdFor(candidate) : candidate);
    if (job) out.push(job);
    else if (n > 0) break;
  }
  return out;
}

async function describe(job: Job, queue: string, dead: boolean, queues: QueueSet): Promise<FoundJob> {
  const meta = dead ? (job.data as DeadLetter).meta : ((job.data as Envelope).meta ?? {});
  return {
    queue,
    id: job.id!,
    name: job.name,
    // `cancelled` for a job a cancel stopped; BullMQ's own state otherwise.
    state: dead ? await job.getState() : await jobStateOf(job, queues),
    deadLetter: dead,
    ...(meta?.key ? { idempotencyKey: meta.key } : {}),
    ...(meta?.requestId ? { requestId: meta.requestId } : {}),
    timestamp: job.timestamp,
    ...(job.failedReason ? { failedReason: job.failedReason } : {}),
  };
}
