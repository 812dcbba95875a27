// The demo: a producer, a worker and an operator against one Redis.
//   REDIS_URL=redis://127.0.0.1:6379 BULLPEN_PREFIX=email-demo OUTBOX_DIR=./outbox node dist/main.js
// Sends two emails (one after its mail server says "try again later" twice), dead-letters one to an address
// that does not exist, fixes the mailbox and replays the letter to success. Exits 0 when all of that happened.
import {
  closeRedis,
  createJobAdmin,
  createRedisConnection,
  type DeadLetter,
  JobPayloadInvalidError,
} from '@bullpen/jobs';
import { registry } from './jobs.js';
import { Outbox } from './outbox.js';
import { emailProducer } from './producer.js';
import { startEmailWorker } from './worker.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = process.env.BULLPEN_PREFIX ?? 'email-demo';
const outbox = new Outbox(process.env.OUTBOX_DIR ?? './outbox');
const say = (line: string) => process.stdout.write(`${line}\n`);

const producerConnection = createRedisConnection(url, 'producer');
const workerConnection = createRedisConnection(url, 'worker');
const adminConnection = createRedisConnection(url, 'admin');

let letterArrived: (letter: DeadLetter) => void = () => {};
const letters = new Promise<DeadLetter>((resolve) => {
  letterArrived = resolve;
});

const producer = emailProducer(producerConnection, prefix);
const admin = createJobAdmin(registry, { connection: adminConnection, prefix });
const worker = startEmailWorker({
  outbox,
  connection: workerConnection,
  prefix,
  onDeadLetter: (letter) => {
    say(`dead-lettered ${letter.jobId}: ${letter.code} ${letter.error.message}`);
    letterArrived(letter);
  },
});

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sentTo = async (to: string) => (await outbox.sent()).filter((m) => m.to === to);

try {
  await worker.waitUntilReady();
  outbox.busyFor('bob@example.com', 2);
  outbox.reject('nobody@example.com');

  const ada = await producer.enqueue('email.send', {
    to: 'ada@example.com',
    template: 'welcome',
    vars: { name: 'Ada' },
  });
  say(`enqueued ${ada.jobId}`);
  const again = await producer.enqueue('email.send', { to: 'ada@example.com', template: 'welcome' });
  say(`enqueued again: deduplicated=${again.deduplicated}`);
  await producer.enqueue('email.send', { to: 'bob@example.com', template: 'receipt', vars: { order: '42' } });
  await producer.enqueue('email.send', { to: 'nobody@example.com', template: 'welcome' });
  try {
    await producer.enqueue('email.send', { to: 'not an address', template: 'welcome' });
  } catch (err) {
    if (!(err instanceof JobPayloadInvalidError)) throw err;
    say(`refused before enqueue: ${err.code}`);
  }

  await until('ada', async () => ((await sentTo('ada@example.com')).length === 1 ? true : undefined));
  say('sent welcome to ada@example.com');
  await until('bob', async () => ((await sentTo('bob@example.com')).length === 1 ? true : undefined));
  say('sent receipt to bob@example.com after 2 busy answers');

  const letter = await letters;
  // The operator: the mailbox exists now; a dry run first, then the replay.
  outbox.accept('nobody@example.com');
  const dry = await admin.replay({ ids: [letter.jobId], queue: 'emails' }, { actor: 'example', dryRun: true });
  say(`dry run: ${dry.outcomes.map((o) => `${o.id} ${o.status} as ${o.newJobId}`).join(', ')}`);
  const replay = await admin.replay({ ids: [letter.jobId], queue: 'emails' }, { actor: 'example' });
  say(`replayed ${replay.replayed}: ${replay.outcomes.map((o) => o.newJobId).join(', ')}`);
  await until('nobody', async () => ((await sentTo('nobody@example.com')).length === 1 ? true : undefined));
  say('sent welcome to nobody@example.com after the replay');
  say('done');
} catch (err) {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await worker.close();
  await producer.close();
  await admin.close();
  for (const c of [producerConnection, workerConnection, adminConnection]) await closeRedis(c);
}
