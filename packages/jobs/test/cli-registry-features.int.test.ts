import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createProducer, createWorker } from '../src/index.ts';
import { registry as v1 } from './fixtures/cli-registry.ts';
import { registry as migrating } from './fixtures/cli-registry-migrating.ts';
import { runBin } from './fixtures/cli-run.ts';
import { useJobsTest } from './helpers.ts';

const fixtures = path.join(import.meta.dirname, 'fixtures');
const MIGRATING = './cli-registry-migrating.ts';
/** Each bin run starts Node and tsx (1-3 s on a busy 2-core machine). */
const BIN_TIMEOUT = 180_000;

describe('bullpen cli: versions, cancel and schedules against a real Redis', () => {
  const t = useJobsTest();
  const base = () => ['--redis-url', t.url, '--prefix', t.prefix];

  it(
    'check counts the payloads that would migrate and the ones that would still fail',
    async () => {
      const producer = createProducer(v1, { connection: t.connect('producer'), prefix: t.prefix });
      t.defer(() => producer.close());
      await producer.enqueue('note.send', { to: 'a', text: '1' });
      await producer.enqueue('note.send', { to: 'b', text: '1' }, { delay: 60_000 });
      await producer.enqueue('note.send', { to: 'unmigratable', text: '1' });
      const r = await runBin(['check', ...base(), '--registry', MIGRATING, '--json'], { cwd: fixtures });
      expect(r.code).toBe(1);
      expect(r.json()).toMatchObject({
        ok: false,
        scanned: { jobs: 3, letters: 0 },
        invalid: 1,
        migrated: 2,
        migrations: [{ name: 'note.send', fromVersion: 1, toVersion: 2, jobs: 2, letters: 0 }],
        groups: [
          {
            name: 'note.send',
            code: 'JOB_PAYLOAD_MIGRATION_FAILED',
            issue: expect.stringContaining('no subject can be made up'),
            count: 1,
          },
        ],
      });
      const human = await runBin(['check', ...base(), '--registry', MIGRATING], { cwd: fixtures });
      expect(human.stdout).toContain(
        '2 payload(s) of an older version fit once migrated: note.send v1->v2 (2 job(s), 0 letter(s))',
      );
    },
    BIN_TIMEOUT,
  );

  it(
    'cancel removes a waiting job, says which ids it could not cancel (exit 1), and is audited as the CLI user',
    async () => {
      const producer = createProducer(v1, { connection: t.connect('producer'), prefix: t.prefix });
      t.defer(() => producer.close());
      const { jobId } = await producer.enqueue('note.send', { to: 'c', text: '1' });
      const ok = await runBin(['cancel', jobId, ...base(), '--json']);
      expect(ok.code).toBe(0);
      expect(ok.json()).toEqual({
        cancelled: 1,
        outcomes: [{ id: jobId, queue: 'notes', name: 'note.send', status: 'removed' }],
      });
      expect(await producer.queue('notes').getJob(jobId)).toBeUndefined();
      const missing = await runBin(['cancel', jobId, 'nope', ...base(), '--queue', 'notes']);
      expect(missing.code).toBe(1);
      expect(missing.stdout).toMatch(/nope +not-found/);
      expect(missing.stdout).toContain('0 of 2 cancelled');
      const audit = await runBin(['audit', ...base(), '--json', '--limit', '2']);
      expect(audit.json<{ entries: { action: string; actor: string }[] }>().entries.map((e) => e.action)).toEqual([
        'cancel',
        'cancel',
      ]);
      const bad = await runBin(['cancel', 'x', ...base(), '--queue', 'nowhere']);
      expect(bad.code).toBe(2);
    },
    BIN_TIMEOUT,
  );

  it(
    'schedules lists the registry schedules with their next run times',
    async () => {
      const before = await runBin(['schedules', ...base(), '--registry', MIGRATING, '--json'], { cwd: fixtures });
      expect(before.json()).toEqual({
        schedules: [expect.objectContaining({ name: 'note.digest', scheduled: false, inRegistry: true })],
      });
      const worker = createWorker(
        migrating,
        { 'note.send': () => {} },
        { connection: t.connect('worker'), prefix: t.prefix },
      );
      t.defer(() => worker.close({ deadlineMs: 1000 }));
      await worker.waitUntilReady();
      const after = await runBin(['schedules', ...base(), '--registry', MIGRATING, '--json'], { cwd: fixtures });
      const [s] = after.json<{ schedules: { next: string; cron: string; tz: string; scheduled: boolean }[] }>()
        .schedules;
      expect(s).toMatchObject({ cron: '*/1 * * * *', tz: 'Europe/Paris', scheduled: true });
      expect(new Date(s!.next).getUTCSeconds()).toBe(0);
      const human = await runBin(['schedules', ...base(), '--registry', MIGRATING], { cwd: fixtures });
      expect(human.stdout).toMatch(/note\.digest +note\.send +notes +\*\/1 \* \* \* \* \(Europe\/Paris\) +\d{4}-/);
      // Without the registry: what Redis has.
      const bare = await runBin(['schedules', ...base(), '--json']);
      expect(bare.json()).toMatchObject({ schedules: [{ name: 'note.digest', scheduled: true }] });
    },
    BIN_TIMEOUT,
  );
});
