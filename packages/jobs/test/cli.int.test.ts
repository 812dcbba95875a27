import os from 'node:os';
import path from 'node:path';
import { waitFor } from '@bullpen/test-utils';
import { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import {
  createJobAdmin,
  createProducer,
  createWorker,
  type DeadLetter,
  PermanentJobError,
  type ReplayReport,
} from '../src/index.ts';
import { registry } from './fixtures/cli-registry.ts';
import { runBin } from './fixtures/cli-run.ts';
import { useJobsTest } from './helpers.ts';

const fixtures = path.join(import.meta.dirname, 'fixtures');
const V1 = './cli-registry.ts';
const V2 = './cli-registry-v2.ts';
const actor = `cli:${os.userInfo().username}`;
/** Each bin run starts Node and tsx (1-3 s on a busy 2-core machine); a test runs up to a dozen. */
const BIN_TIMEOUT = 180_000;

describe('bullpen cli: usage', () => {
  it(
    'states its commands and exit codes in --help, and answers a bad option with exit 2 and one line',
    async () => {
      const help = await runBin(['--help']);
      expect(help.code).toBe(0);
      for (const cmd of [
        'doctor',
        'letters',
        'search <term>',
        'check',
        '--redis-url',
        '--prefix',
        '--registry',
        '--json',
      ]) {
        expect(help.stdout).toContain(cmd);
      }
      expect(help.stdout).toMatch(/Exit codes:[\s\S]*3 {2}Redis unreachable/);
      const replayHelp = await runBin(['letters', 'replay', '--help']);
      expect(replayHelp.stdout).toContain('--dry-run');
      expect(replayHelp.stdout).toContain('--fingerprint');
      expect(replayHelp.stdout).toContain('Exit codes:');

      const bad = await runBin(['doctor', '--nope', '--json']);
      expect(bad.code).toBe(2);
      expect(bad.stderr.trim().split('\n')).toEqual(["CLI_USAGE: unknown option '--nope'"]);
      expect(bad.json()).toMatchObject({ error: { code: 'CLI_USAGE' } });
      expect((await runBin([])).code).toBe(2);
      expect((await runBin(['letters', 'list', '--limit', 'many'])).code).toBe(2);
    },
    BIN_TIMEOUT,
  );

  it(
    'exits 3 with REDIS_NOT_READY when Redis is unreachable',
    async () => {
      const r = await runBin(['letters', 'list', '--redis-url', 'redis://127.0.0.1:1', '--json']);
      expect(r.code).toBe(3);
      expect(r.stderr.trim()).toMatch(
        /^REDIS_NOT_READY: Redis is not reachable \(.*ECONNREFUSED.*\) at redis:\/\/127\.0\.0\.1:1$/,
      );
      expect(r.json()).toMatchObject({ error: { code: 'REDIS_NOT_READY' } });
    },
    BIN_TIMEOUT,
  );

  it(
    'refuses a --registry that is missing or exports no registry, with exit 2',
    async () => {
      const missing = await runBin(['check', '--registry', './nope.ts', '--redis-url', 'redis://127.0.0.1:1'], {
        cwd: fixtures,
      });
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/^CLI_REGISTRY_INVALID: cannot load the registry module "\.\/nope\.ts"/);
      const notOne = await runBin(['check', '--registry', './cli-run.ts', '--redis-url', 'redis://127.0.0.1:1'], {
        cwd: fixtures,
      });
      expect(notOne.code).toBe(2);
      expect(notOne.stderr).toContain('exports no registry: export it as "registry" or as the default export');
    },
    BIN_TIMEOUT,
  );
});

describe('bullpen cli: letters, search and audit against a real Redis', () => {
  const t = useJobsTest();

  /** Two letters (`bad` is refused for good), one completed job. */
  async function seed() {
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    const worker = createWorker(
      registry,
      {
        'note.send': (p) => {
          if (p.to.startsWith('bad')) throw new PermanentJobError('NOTE_REFUSED', `mailbox ${p.to} refused the note`);
        },
      },
      { connection: t.connect('worker'), prefix: t.prefix },
    );
    t.defer(() => worker.close({ deadlineMs: 1000 }));
    t.defer(() => producer.close());
    await producer.enqueue('note.send', { to: 'bad-1', text: 'hi' });
    await producer.enqueue('note.send', { to: 'bad-2', text: 'hi' });
    await producer.enqueue('note.send', { to: 'ada', text: 'hi' });
    const admin = createJobAdmin(registry, { connection: t.connect('admin'), prefix: t.prefix });
    t.defer(() => admin.close());
    await waitFor(async () => (await admin.listDeadLetters()).length === 2, 10_000, 'two letters');
    await worker.close();
    return admin;
  }

  const base = () => ['--redis-url', t.url, '--prefix', t.prefix];

  it(
    'lists, groups and shows letters, with and without --registry, as tables and as JSON',
    async () => {
      await seed();
      const list = await runBin(['letters', 'list', ...base(), '--registry', V1, '--json'], { cwd: fixtures });
      expect(list.code).toBe(0);
      const letters = list.json<{ letters: (DeadLetter & { id: string; deadLetterQueue: string })[] }>().letters;
      expect(letters.map((l) => l.id).sort()).toEqual(['note.send#bad-1-hi', 'note.send#bad-2-hi']);
      expect(letters[0]).toMatchObject({ queue: 'notes', deadLetterQueue: 'notes.dead', code: 'NOTE_REFUSED' });

      // Without --registry the dead-letter queues are found under the prefix.
      const human = await runBin(['letters', 'list', ...base()]);
      expect(human.code).toBe(0);
      expect(human.stdout.split('\n')[0]).toMatch(/^ID +QUEUE +JOB +CODE +FAILED AT +ATTEMPTS +ERROR$/);
      expect(human.stdout).toContain('note.send#bad-1-hi');
      const filtered = await runBin(['letters', 'list', ...base(), '--message', 'BAD-2 refused', '--json']);
      expect(filtered.json<{ letters: { id: string }[] }>().letters.map((l) => l.id)).toEqual(['note.send#bad-2-hi']);

      const groups = await runBin(['letters', 'groups', ...base(), '--job', 'note.send', '--json']);
      const [group, ...rest] = groups.json<{ groups: { fingerprint: string; count: number }[] }>().groups;
      expect(rest).toEqual([]);
      expect(group).toMatchObject({ count: 2, name: 'note.send', queue: 'notes', deadLetterQueue: 'notes.dead' });
      const byFingerprint = await runBin(['letters', 'list', ...base(), '--fingerprint', group!.fingerprint, '--json']);
      expect(byFingerprint.json<{ letters: unknown[] }>().letters).toHaveLength(2);

      const show = await runBin(['letters', 'show', 'note.send#bad-1-hi', ...base(), '--registry', V1], {
        cwd: fixtures,
      });
      expect(show.code).toBe(0);
      expect(show.stdout).toContain("fits today's schema");
      expect(show.stdout).toContain('#1 NOTE_REFUSED PermanentJobError: mailbox bad-1 refused the note');
      const showV2 = await runBin(['letters', 'show', 'note.send#bad-1-hi', ...base(), '--registry', V2, '--json'], {
        cwd: fixtures,
      });
      expect(showV2.json()).toMatchObject({ schema: { fits: false, code: 'JOB_PAYLOAD_INVALID' } });
      const none = await runBin(['letters', 'show', 'nope', ...base()]);
      expect(none.code).toBe(1);
      expect(none.stderr.trim()).toBe('DEAD_LETTER_NOT_FOUND: No dead letter with id "nope"');
    },
    BIN_TIMEOUT,
  );

  it(
    'replays and discards with --dry-run first, each action in the audit log as cli:<os user>',
    async () => {
      const admin = await seed();
      const noRegistry = await runBin(['letters', 'replay', '--all', ...base()]);
      expect(noRegistry.code).toBe(2);
      expect(noRegistry.stderr).toMatch(/^CLI_REGISTRY_REQUIRED: replay re-validates/);
      const noTarget = await runBin(['letters', 'replay', ...base(), '--registry', V1], { cwd: fixtures });
      expect(noTarget.code).toBe(2);
      expect(noTarget.stderr).toMatch(/^CLI_USAGE: name the letters/);

      const dry = await runBin(
        ['letters', 'replay', '--job', 'note.send', '--dry-run', ...base(), '--registry', V1, '--json'],
        {
          cwd: fixtures,
        },
      );
      expect(dry.code).toBe(0);
      expect(dry.json<ReplayReport>()).toMatchObject({ dryRun: true, replayed: 2, refused: 0 });
      expect(await admin.audit.list()).toEqual([]);
      expect(await admin.listDeadLetters()).toHaveLength(2);

      // A replay that today's schema refuses keeps the letter and exits 1.
      const refused = await runBin(['letters', 'replay', 'note.send#bad-1-hi', ...base(), '--registry', V2], {
        cwd: fixtures,
      });
      expect(refused.code).toBe(1);
      expect(refused.stdout).toMatch(/note\.send#bad-1-hi .* refused +JOB_PAYLOAD_INVALID subject:/);

      const replay = await runBin(['letters', 'replay', 'note.send#bad-1-hi', ...base(), '--registry', V1, '--json'], {
        cwd: fixtures,
      });
      expect(replay.code).toBe(0);
      expect(replay.json<ReplayReport>().outcomes).toEqual([
        {
          id: 'note.send#bad-1-hi',
          queue: 'notes',
          name: 'note.send',
          status: 'replayed',
          newJobId: 'note.send#bad-1-hi-r1',
        },
      ]);

      const dryDiscard = await runBin(['letters', 'discard', 'note.send#bad-2-hi', '--dry-run', ...base(), '--json']);
      expect(dryDiscard.json()).toEqual({ dryRun: true, wouldDiscard: ['note.send#bad-2-hi'], missing: [] });
      expect(await admin.listDeadLetters()).toHaveLength(1);
      const discard = await runBin(['letters', 'discard', 'note.send#bad-2-hi', 'nope', ...base()]);
      expect(discard.code).toBe(1);
      expect(discard.stdout).toContain('discarded 1 letter(s): note.send#bad-2-hi');
      expect(discard.stdout).toContain('not found: nope');
      expect(await admin.listDeadLetters()).toEqual([]);

      const entries = await admin.audit.list();
      expect(entries.map((e) => [e.actor, e.action, e.outcome, e.ids])).toEqual([
        [actor, 'discard', 'ok', ['note.send#bad-2-hi']],
        [actor, 'replay', 'ok', ['note.send#bad-1-hi']],
        [actor, 'replay', 'refused', ['note.send#bad-1-hi']],
      ]);
      const audit = await runBin(['audit', ...base()]);
      expect(audit.code).toBe(0);
      expect(audit.stdout).toContain(`${actor}  discard`);
    },
    BIN_TIMEOUT,
  );

  it(
    'finds jobs and letters by idempotency key (with --registry) and by job id, exit 1 for nothing',
    async () => {
      await seed();
      const byKey = await runBin(['search', 'bad-1-hi', ...base(), '--registry', V1, '--json'], { cwd: fixtures });
      expect(byKey.code).toBe(0);
      const results = byKey.json<{ results: { queue: string; id: string; deadLetter: boolean; state: string }[] }>()
        .results;
      expect(results.map((r) => [r.queue, r.id, r.deadLetter, r.state])).toEqual([
        ['notes', 'note.send#bad-1-hi', false, 'failed'],
        ['notes.dead', 'note.send#bad-1-hi', true, 'waiting'],
      ]);
      const byId = await runBin(['search', 'note.send#ada-hi', ...base()]);
      expect(byId.code).toBe(0);
      expect(byId.stdout).toMatch(/notes +note\.send#ada-hi +note\.send +completed/);
      const nothing = await runBin(['search', 'nobody', ...base(), '--json']);
      expect(nothing.code).toBe(1);
      expect(nothing.json()).toEqual({ term: 'nobody', results: [] });
    },
    BIN_TIMEOUT,
  );

  it(
    'check: finds the payloads a schema change would dead-letter, grouped by job and first issue',
    async () => {
      await seed();
      const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
      t.defer(() => producer.close());
      // Enqueued with today's schema (v1): waiting, delayed and prioritized.
      await producer.enqueue('note.send', { to: 'w', text: '1' });
      await producer.enqueue('note.send', { to: 'd', text: '1' }, { delay: 60_000 });
      await producer.enqueue('note.send', { to: 'p', text: '1' }, { priority: 5 });
      const noRegistry = await runBin(['check', ...base()]);
      expect(noRegistry.code).toBe(2);
      expect(noRegistry.stderr).toMatch(/^CLI_REGISTRY_REQUIRED: check parses payloads/);

      const today = await runBin(['check', ...base(), '--registry', V1], { cwd: fixtures });
      expect(today.stdout).toContain("every payload fits today's schemas");
      expect(today.code).toBe(0);

      // A foreign producer's job of a name no registry knows.
      const raw = new Queue('notes', { connection: t.connect('admin'), prefix: t.prefix });
      t.defer(() => raw.close());
      await raw.add('note.unknown', { payload: {}, meta: {} }, { jobId: 'foreign-1' });

      const next = await runBin(['check', ...base(), '--registry', V2, '--json'], { cwd: fixtures });
      expect(next.code).toBe(1);
      const report = next.json<{
        ok: boolean;
        scanned: { jobs: number; letters: number };
        invalid: number;
        groups: { name: string; code: string; issue: string; count: number; jobs: number; letters: number }[];
      }>();
      expect(report).toMatchObject({ ok: false, scanned: { jobs: 4, letters: 2 }, invalid: 6 });
      expect(
        report.groups.map(({ name, code, issue, count, jobs, letters }) => ({
          name,
          code,
          issue,
          count,
          jobs,
          letters,
        })),
      ).toEqual([
        {
          name: 'note.send',
          code: 'JOB_PAYLOAD_INVALID',
          issue: 'subject: Invalid input: expected string, received undefined',
          count: 5,
          jobs: 3,
          letters: 2,
        },
        {
          name: 'note.unknown',
          code: 'JOB_UNKNOWN',
          issue: `no job "note.unknown" in today's registry`,
          count: 1,
          jobs: 1,
          letters: 0,
        },
      ]);
      const human = await runBin(['check', ...base(), '--registry', V2], { cwd: fixtures });
      expect(human.code).toBe(1);
      expect(human.stdout).toContain('read 4 queued job(s) and 2 dead letter(s) of notes');
      expect(human.stdout).toMatch(/5 +note\.send +JOB_PAYLOAD_INVALID +subject: Invalid input/);
    },
    BIN_TIMEOUT,
  );
});
