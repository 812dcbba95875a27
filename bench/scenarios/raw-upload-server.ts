// Baseline for bench 3: a bare Fastify + @fastify/multipart endpoint that streams the file to disk and calls
// Queue.add — what one would write by hand without Bullpen. Prints its port.
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import fastifyMultipart from '@fastify/multipart';
import { Queue } from 'bullmq';
import Fastify from 'fastify';
import { Redis } from 'ioredis';

const dir = process.env.STORAGE_DIR!;
mkdirSync(dir, { recursive: true });
const queue = new Queue('images', {
  connection: new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: 1 }),
  prefix: process.env.BULLPEN_PREFIX!,
});
const app = Fastify({ logger: false });
await app.register(fastifyMultipart, { limits: { fileSize: 20 * 1024 * 1024, files: 1 } });
app.post('/uploads', async (req, reply) => {
  const file = await req.file();
  if (!file) return reply.code(400).send({ error: 'no file' });
  const id = randomBytes(16).toString('base64url');
  const dest = path.join(dir, id);
  await pipeline(file.file, createWriteStream(dest));
  if (file.file.truncated) {
    rmSync(dest, { force: true });
    return reply.code(413).send({ error: 'too large' });
  }
  const job = await queue.add('image.resize', { uploadId: id, path: dest });
  return reply.code(202).send({ uploadId: id, jobId: job.id });
});
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
const { port } = app.server.address() as import('node:net').AddressInfo;
process.stdout.write(`listening ${port}\n`);
