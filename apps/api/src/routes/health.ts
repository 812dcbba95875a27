import type { RedisClient } from '@bullpen/jobs';
import type { FastifyInstance } from 'fastify';
import type { Registry as PromRegistry } from 'prom-client';
import { ApiError } from '../errors.ts';
import { errorResponse, healthResponse } from '../schemas.ts';

export interface HealthRoutesOptions {
  redis: RedisClient;
  register: PromRegistry;
  /** The key /readyz writes (with a short expiry): a Redis that answers PING but refuses writes is not ready. */
  probeKey: string;
}

const READY_TIMEOUT_MS = 1000;

// Probes and scrapes must answer under load too: exempt them from @fastify/under-pressure.
const exempt = { pressureHandler: () => undefined };

/** `/healthz` (the process is up), `/readyz` (Redis takes a write within 1 s), `/metrics` (Prometheus). */
export async function healthRoutes(app: FastifyInstance, opts: HealthRoutesOptions): Promise<void> {
  app.get(
    '/healthz',
    { config: exempt, schema: { summary: 'Liveness', tags: ['operations'], response: { 200: healthResponse } } },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      config: exempt,
      schema: {
        summary: 'Readiness: Redis takes writes',
        tags: ['operations'],
        response: { 200: healthResponse, 503: errorResponse.meta({ description: 'NOT_READY' }) },
      },
    },
    async (req) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        // A write, not a PING: at maxmemory (noeviction), as a read-only replica or while loading, Redis
        // answers PING but refuses what an upload needs.
        await Promise.race([
          opts.redis.set(opts.probeKey, String(Date.now()), 'PX', 10_000),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
          }),
        ]);
      } catch (err) {
        req.log.warn({ err }, 'readyz.redis_failed');
        throw new ApiError('NOT_READY', 'Redis is unreachable or refuses writes', { 'retry-after': '5' });
      } finally {
        clearTimeout(timer);
      }
      return { status: 'ok' as const };
    },
  );

  app.get(
    '/metrics',
    { config: exempt, schema: { summary: 'Prometheus metrics', tags: ['operations'] } },
    async (_req, reply) => reply.type(opts.register.contentType).send(await opts.register.metrics()),
  );
}
