// SLOW (about a minute, most of it `npm install` from the registry): proof that a stranger can use @bullpen/jobs
// from its packed tarball alone. Builds and packs the package, installs the tarball with npm into a fresh folder
// beside bullmq, ioredis, zod and typescript (the workspace catalog's versions), typechecks examples/email and every
// ```ts block of docs/framework.md against the published .d.ts, proves that a missing handler does not compile
// there, runs the example with plain node against a throw-away Redis (enqueue, retry, dead letter, replay) and
// runs the installed `bullpen` bin. Every folder it makes is outside the repository and removed afterwards.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type RedisServerHandle, startRedisServer } from '@bullpen/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const pkgDir = path.resolve(import.meta.dirname, '..');
const repo = path.resolve(pkgDir, '../..');
const example = path.join(repo, 'examples/email');
const guide = path.join(repo, 'docs/framework.md');
const readme = path.join(repo, 'README.md');
/** tsc runs and child processes, on a machine busy with the rest of the suite. */
const STEP_TIMEOUT = 300_000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { cwd: string; env?: Record<string, string>; timeoutMs?: number }) {
  return new Promise<Run>((resolve, reject) => {
    execFile(
      cmd,
      args,
      {
        cwd: opts.cwd,
        env: { ...process.env, ...opts.env },
        timeout: opts.timeoutMs ?? 120_000,
        maxBuffer: 32 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err ? err.code : 0;
        if (typeof code !== 'number') reject(new Error(`${cmd} ${args.join(' ')}: ${err?.message}\n${stderr}`));
        else resolve({ code, stdout, stderr });
      },
    );
  });
}

async function ok(cmd: string, args: string[], opts: Parameters<typeof run>[2]): Promise<Run> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** The versions pnpm-workspace.yaml's catalog pins, so the consumer gets what the workspace tests with. */
function catalog(): Record<string, string> {
  const text = readFileSync(path.join(repo, 'pnpm-workspace.yaml'), 'utf8');
  const block = /^catalog:\n((?:[ \t]+.*\n?)*)/m.exec(text)?.[1] ?? '';
  const out: Record<string, string> = {};
  for (const line of block.split('\n')) {
    const m = /^\s+"?([^":]+)"?:\s*(\S+)\s*$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** Every ```ts block of the guide as a file: `// file: name.ts` on its first line names it, else snippet-N.ts. */
/** Every ```ts block of the guide and of the README, as files (a block may name its own: `// file: x.ts`). */
function guideSnippets(): { name: string; code: string }[] {
  return [guide, readme].flatMap((doc) => {
    if (!existsSync(doc)) return [];
    const blocks = [...readFileSync(doc, 'utf8').matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
    const stem = path.basename(doc, '.md').toLowerCase();
    return blocks.map((code, i) => ({
      name: /^\/\/ file: (\S+\.ts)/.exec(code)?.[1] ?? `${stem}-snippet-${i + 1}.ts`,
      code,
    }));
  });
}

describe('pack (slow: npm install from the registry): @bullpen/jobs from its tarball, as a stranger uses it', () => {
  const temp: string[] = [];
  let project: string;
  let redis: RedisServerHandle;
  const timings: Record<string, number> = {};
  const timed = async <T>(label: string, fn: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
      return await fn();
    } finally {
      timings[label] = Date.now() - started;
    }
  };

  beforeAll(async () => {
    const packs = mkdtempSync(path.join(tmpdir(), 'bullpen-pack-'));
    project = mkdtempSync(path.join(tmpdir(), 'bullpen-consumer-'));
    temp.push(packs, project);
    await timed('build', async () => {
      rmSync(path.join(pkgDir, 'dist'), { recursive: true, force: true });
      await ok('pnpm', ['run', 'build'], { cwd: pkgDir });
    });
    await timed('pack', () => ok('pnpm', ['pack', '--pack-destination', packs], { cwd: pkgDir }));
    const tarball = readdirSync(packs).find((f) => f.endsWith('.tgz'));
    if (!tarball) throw new Error(`pnpm pack left no tarball in ${packs}`);

    const versions = catalog();
    const pin = (name: string) => `${name}@${versions[name] ?? 'latest'}`;
    await ok('npm', ['init', '-y'], { cwd: project });
    const pkg = JSON.parse(readFileSync(path.join(project, 'package.json'), 'utf8'));
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ ...pkg, type: 'module' }, null, 2));
    await timed('npm install', () =>
      ok(
        'npm',
        [
          'install',
          '--no-audit',
          '--no-fund',
          '--loglevel=error',
          path.join(packs, tarball),
          ...['bullmq', 'ioredis', 'zod', 'typescript', '@types/node'].map(pin),
        ],
        { cwd: project, timeoutMs: 600_000 },
      ),
    );
    cpSync(path.join(example, 'src'), path.join(project, 'src'), { recursive: true });
    cpSync(path.join(example, 'tsconfig.json'), path.join(project, 'tsconfig.json'));
    redis = await startRedisServer({ args: ['--appendonly', 'yes', '--appendfsync', 'everysec'] });
  }, 900_000);

  afterAll(async () => {
    await redis?.stop();
    for (const dir of temp) rmSync(dir, { recursive: true, force: true });
    console.log(`pack test timings (ms): ${JSON.stringify(timings)}`);
  });

  it(
    'packs dist with its .d.ts and the bin, and no workspace-only dependency',
    async () => {
      const installed = path.join(project, 'node_modules/@bullpen/jobs');
      const manifest = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8'));
      expect(manifest.bin).toEqual({ bullpen: './dist/cli/main.js' });
      for (const file of [
        'dist/index.js',
        'dist/index.d.ts',
        'dist/process.d.ts',
        'dist/cli/main.js',
        'CHANGELOG.md',
      ]) {
        expect(existsSync(path.join(installed, file)), file).toBe(true);
      }
      expect(readFileSync(path.join(installed, 'dist/cli/main.js'), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
      expect(JSON.stringify(manifest.dependencies)).not.toMatch(/workspace:|catalog:/);
      expect(existsSync(path.join(installed, 'test'))).toBe(false);
      // The example asks for the versions the workspace pins.
      const versions = catalog();
      const exampleDeps = JSON.parse(readFileSync(path.join(example, 'package.json'), 'utf8'));
      for (const dep of ['bullmq', 'ioredis', 'zod']) expect(exampleDeps.dependencies[dep]).toBe(versions[dep]);
      expect(exampleDeps.dependencies['@bullpen/jobs']).toBe(`^${manifest.version}`);
    },
    STEP_TIMEOUT,
  );

  it(
    'typechecks the example and the guide strictly against the published .d.ts; a missing handler fails to compile',
    async () => {
      await timed('tsc example', () => ok('npx', ['tsc', '-p', '.'], { cwd: project }));
      expect(existsSync(path.join(project, 'dist/main.js'))).toBe(true);

      // The same compiler options, one file that leaves out the handler of email.send.
      const negative = path.join(project, 'negative');
      mkdirSync(negative);
      writeFileSync(
        path.join(negative, 'missing-handler.ts'),
        [
          "import { createRedisConnection, createWorker } from '@bullpen/jobs';",
          "import { registry } from '../src/jobs.js';",
          '',
          "const connection = createRedisConnection('redis://127.0.0.1:1', 'worker');",
          "createWorker(registry, {}, { connection, prefix: 'never-used' });",
          '',
        ].join('\n'),
      );
      writeFileSync(
        path.join(negative, 'tsconfig.json'),
        JSON.stringify({
          extends: '../tsconfig.json',
          compilerOptions: { noEmit: true, rootDir: '..' },
          include: ['.'],
        }),
      );
      const refused = await run('npx', ['tsc', '-p', 'negative'], { cwd: project });
      expect(refused.code).not.toBe(0);
      expect(refused.stdout).toMatch(/missing-handler\.ts\(5,\d+\): error TS2741: Property '"email\.send"' is missing/);
      expect(refused.stdout).toContain('email.send');

      const snippets = guideSnippets();
      expect(snippets.length).toBeGreaterThan(5);
      const docs = path.join(project, 'guide');
      mkdirSync(docs);
      for (const s of snippets) writeFileSync(path.join(docs, s.name), s.code);
      writeFileSync(
        path.join(docs, 'tsconfig.json'),
        JSON.stringify({
          extends: '../tsconfig.json',
          compilerOptions: { noEmit: true, rootDir: '.' },
          include: ['.'],
        }),
      );
      const checked = await run('npx', ['tsc', '-p', 'guide'], { cwd: project });
      expect(checked.stdout, 'every ```ts block of docs/framework.md and README.md compiles').toBe('');
      expect(checked.code).toBe(0);
    },
    STEP_TIMEOUT,
  );

  it(
    'runs the example with plain node: enqueue, retry, dead letter, replay to success; then the installed bin',
    async () => {
      const prefix = 'email-demo';
      const outbox = path.join(project, 'outbox');
      const demo = await timed('example run', () =>
        run('node', ['dist/main.js'], {
          cwd: project,
          env: { REDIS_URL: redis.url, BULLPEN_PREFIX: prefix, OUTBOX_DIR: outbox },
          timeoutMs: 60_000,
        }),
      );
      expect(demo.stderr).toBe('');
      expect(demo.code).toBe(0);
      const lines = demo.stdout.trim().split('\n');
      expect(lines).toEqual(
        expect.arrayContaining([
          'enqueued email.send#welcome-ada@example.com',
          'enqueued again: deduplicated=true',
          'refused before enqueue: JOB_PAYLOAD_INVALID',
          'sent welcome to ada@example.com',
          'sent receipt to bob@example.com after 2 busy answers',
          'dead-lettered email.send#welcome-nobody@example.com: EMAIL_ADDRESS_REJECTED 550 mailbox nobody@example.com does not exist',
          'dry run: email.send#welcome-nobody@example.com would-replay as email.send#welcome-nobody@example.com-r1',
          'replayed 1: email.send#welcome-nobody@example.com-r1',
          'sent welcome to nobody@example.com after the replay',
        ]),
      );
      expect(lines.at(-1)).toBe('done');
      expect(readdirSync(outbox).filter((f) => f.endsWith('.json'))).toHaveLength(3);

      const bin = (...args: string[]) => run('npx', ['--no-install', 'bullpen', ...args], { cwd: project });
      const doctor = await timed('bullpen doctor', () => bin('doctor', '--redis-url', redis.url, '--json'));
      expect(doctor.code).toBe(0);
      expect(JSON.parse(doctor.stdout)).toMatchObject({ ok: true, mode: 'standalone' });

      const cli = ['--redis-url', redis.url, '--prefix', prefix, '--registry', './dist/jobs.js', '--json'];
      const search = await bin('search', 'welcome-nobody@example.com', ...cli);
      expect(search.code).toBe(0);
      expect(JSON.parse(search.stdout).results).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            id: 'email.send#welcome-nobody@example.com-r1',
            state: 'completed',
            deadLetter: false,
          }),
        ]),
      );
      const check = await bin('check', ...cli);
      expect(check.code).toBe(0);
      expect(JSON.parse(check.stdout)).toMatchObject({ ok: true, invalid: 0 });
      const audit = await bin('audit', ...cli);
      expect(JSON.parse(audit.stdout).entries).toEqual([
        expect.objectContaining({ actor: 'example', action: 'replay', outcome: 'ok' }),
      ]);
    },
    STEP_TIMEOUT,
  );
});
