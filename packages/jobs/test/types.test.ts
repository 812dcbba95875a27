import { Redis } from 'ioredis';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import {
  createProducer,
  createWorker,
  defineJob,
  defineRegistry,
  type HandlerMap,
  type JobName,
  type Payload,
} from '../src/index.ts';

const resize = defineJob({
  name: 'image.resize',
  queue: 'images',
  payload: z.object({ id: z.string(), width: z.number().default(512) }),
});
const deliver = defineJob({ name: 'webhook.deliver', queue: 'webhooks', payload: z.object({ url: z.url() }) });
const registry = defineRegistry([resize, deliver]);

// These tests are checked by `pnpm typecheck` (tsc covers test/): a stale @ts-expect-error fails it.
describe('types derived from the registry', () => {
  it('names every job and types each payload from its schema', () => {
    expectTypeOf<JobName<typeof registry>>().toEqualTypeOf<'image.resize' | 'webhook.deliver'>();
    expectTypeOf<Payload<typeof registry, 'image.resize'>>().toEqualTypeOf<{ id: string; width: number }>();
  });

  it('demands a handler for every job of the queues served', () => {
    const connection = new Redis({ lazyConnect: true });
    const opts = { connection, prefix: 'never-used', queues: ['images'] as const };
    // @ts-expect-error: no handler for image.resize
    expect(() => createWorker(registry, {}, opts)).toThrow(/no handler for job "image.resize"/);
    // Serving only `images` needs only its handler.
    expectTypeOf<keyof HandlerMap<typeof registry, 'images'>>().toEqualTypeOf<'image.resize'>();
    expectTypeOf<keyof HandlerMap<typeof registry>>().toEqualTypeOf<'image.resize' | 'webhook.deliver'>();
    connection.disconnect();
  });

  it('refuses a payload of the wrong shape at compile time', () => {
    const connection = new Redis({ lazyConnect: true });
    const producer = createProducer(registry, { connection, prefix: 'never-used' });
    // @ts-expect-error: width must be a number
    void producer.enqueue('image.resize', { id: 'a', width: 'wide' }).catch(() => {});
    // @ts-expect-error: unknown job
    void producer.enqueue('image.shrink', { id: 'a' }).catch(() => {});
    connection.disconnect();
  });
});
