// The job definitions: what the producer enqueues, the worker runs and `bullpen --registry` reads.
import { defineJob, defineRegistry } from '@bullpen/jobs';
import { z } from 'zod';

export const TEMPLATES = ['welcome', 'receipt'] as const;

export const sendEmail = defineJob({
  name: 'email.send',
  queue: 'emails',
  payload: z.object({
    to: z.email(),
    template: z.enum(TEMPLATES),
    /** Values the template fills in. */
    vars: z.record(z.string(), z.string()).default({}),
  }),
  // A mail server that says "try again later" is retried: 4 tries in all, 200 ms apart (short, for the demo).
  attempts: 4,
  backoff: { type: 'fixed', delay: 200 },
  timeoutMs: 5_000,
  // The same template to the same address is one email, however often it is enqueued.
  idempotencyKey: (p) => `${p.template}-${p.to}`,
  description: 'Renders a template and hands the message to the mail transport',
});

export const registry = defineRegistry([sendEmail]);
export type EmailRegistry = typeof registry;
