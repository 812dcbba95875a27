import type { RedisClient } from '@bullpen/jobs';
import type { FastifyInstance } from 'fastify';
import type { Registry as PromRegistry } from 'prom-client';
import { ApiError } from '../errors.ts';
import { errorResponse, healthResponse } from '../schemas.ts';

export interface HealthRoutesOptions {
  redis: RedisClient;
  register: PromRegistry;
}

// Probes and scrapes must answer under load too: exempt them from @fastify/under-pressure.
const exempt = { pressureHandler: () => undefined };

/** `/healthz` (the process is up), `/readyz` (Redis reachable), `/metrics` (Prometheus). */
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
        summary: 'Readiness: Redis reachable',
        tags: ['operations'],
        response: { 200: healthResponse, 503: errorResponse.meta({ description: 'NOT_READY' }) },
      },
    },
    async () => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          opts.redis.ping(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('Redis did not answer within 1 s')), 1000);
          }),
        ]);
      } catch (err) {
        throw new ApiError('NOT_READY', `Redis is unreachable: ${(err as Error).message}`);
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
