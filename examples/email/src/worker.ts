// The worker side: a handler for every job of the registry (leave one out and this does not compile).
import { createWorker, type DeadLetter, type HandlerMap, PermanentJobError, type RedisClient } from '@bullpen/jobs';
import type { EmailRegistry } from './jobs.js';
import { registry } from './jobs.js';
import { MailboxRejectedError, type Outbox } from './outbox.js';
import { render } from './templates.js';

export function emailHandlers(outbox: Outbox): HandlerMap<EmailRegistry> {
  return {
    'email.send': async (payload, ctx) => {
      // Stored once done: a retry or a replay does not render again.
      const message = await ctx.step('render', () => render(payload.template, payload.vars));
      // Stored once sent: a job redelivered after a crash past this point does not send twice.
      return ctx.step('send', async () => {
        try {
          return await outbox.send(
            { to: payload.to, ...message, idempotencyKey: ctx.job.idempotencyKey ?? ctx.job.id },
            ctx.signal,
          );
        } catch (err) {
          // Retrying cannot help: dead-letter it at once. Anything else thrown is retried with backoff.
          if (err instanceof MailboxRejectedError) {
            throw new PermanentJobError('EMAIL_ADDRESS_REJECTED', err.message, { cause: err });
          }
          throw err;
        }
      });
    },
  };
}

export function startEmailWorker(opts: {
  outbox: Outbox;
  /** A connection made with `createRedisConnection(url, 'worker')`. */
  connection: RedisClient;
  prefix: string;
  onDeadLetter?: (letter: DeadLetter) => void;
}) {
  return createWorker(registry, emailHandlers(opts.outbox), {
    connection: opts.connection,
    prefix: opts.prefix,
    concurrency: 5,
    shutdownGraceMs: 10_000,
    ...(opts.onDeadLetter ? { onDeadLetter: opts.onDeadLetter } : {}),
  });
}
