import {
  type DeadLetterEntry,
  deadLetterQueueName,
  type LetterFilter,
  type LetterGroup,
  type LetterTarget,
  type Registry,
} from '@bullpen/jobs';
import { z } from 'zod';
import { requestInvalid } from './errors.ts';

/** At most this many letters in one filter-based replay or discard. */
export const MAX_LETTERS = 20_000;

export const targetSchema = z
  .object({
    ids: z.array(z.string().min(1).max(500)).max(MAX_LETTERS).optional(),
    queue: z.string().max(200).optional(),
    name: z.string().max(200).optional(),
    fingerprint: z.string().max(100).optional(),
    messageContains: z.string().max(500).optional(),
    limit: z.number().int().positive().max(MAX_LETTERS).optional(),
    /** Required to act on every letter of every queue (no other criterion). */
    all: z.boolean().optional(),
  })
  .strict();
export type TargetInput = z.infer<typeof targetSchema>;

/**
 * The source queue a name means: letters are listed under their dead-letter queue (`images.dead`)
 * but filtered by source queue (`images`), so both spellings are accepted.
 */
export function sourceQueue(registry: Registry, queue: string | undefined): string | undefined {
  if (!queue) return undefined;
  const q = queue.endsWith('.dead') ? queue.slice(0, -'.dead'.length) : queue;
  if (!registry.queues.includes(q)) throw requestInvalid(`unknown queue "${queue}"`);
  return q;
}

/** A target as the framework takes it; refuses an empty one unless `all` says so. */
export function toLetterTarget(registry: Registry, t: TargetInput): LetterTarget {
  const queue = sourceQueue(registry, t.queue);
  if (t.ids && t.ids.length > 0) return { ids: t.ids, ...(queue ? { queue } : {}) };
  if (t.ids && t.ids.length === 0) throw requestInvalid('no letters selected');
  const filter: LetterFilter = { limit: t.limit ?? MAX_LETTERS };
  if (queue) filter.queue = queue;
  if (t.name) filter.name = t.name;
  if (t.fingerprint) filter.fingerprint = t.fingerprint;
  if (t.messageContains) filter.messageContains = t.messageContains;
  if (!queue && !t.name && !t.fingerprint && !t.messageContains && !t.all) {
    throw requestInvalid('name the letters: ids, or a queue, name, fingerprint or messageContains (or all: true)');
  }
  return filter;
}

/** A filter from query-string parameters (for listing). */
export function filterFromQuery(registry: Registry, q: Record<string, unknown>): LetterFilter {
  const str = (k: string) => (typeof q[k] === 'string' && q[k] !== '' ? (q[k] as string) : undefined);
  const f: LetterFilter = {};
  const queue = sourceQueue(registry, str('queue'));
  if (queue) f.queue = queue;
  const name = str('name');
  if (name) f.name = name;
  const fp = str('fingerprint');
  if (fp) f.fingerprint = fp;
  const text = str('messageContains');
  if (text) f.messageContains = text;
  const limit = Number(str('limit'));
  if (Number.isInteger(limit) && limit > 0) f.limit = Math.min(limit, MAX_LETTERS);
  return f;
}

/** A letter as the API shows it: its source queue, its dead-letter queue, and the letter. */
export function letterView(e: DeadLetterEntry) {
  return { id: e.id, queue: e.queue, deadLetterQueue: e.deadQueue, ...e.letter };
}

/** A group with its dead-letter queue named too. */
export function groupView(g: LetterGroup) {
  return { ...g, deadLetterQueue: deadLetterQueueName(g.queue) };
}
