// pnpm bench [-- --quick] [-- --only noop,enqueue,latency,memory,api,image,scaling]
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startRedisServer } from '@bullpen/test-utils';
import type { BenchContext } from './lib/bench-context.ts';
import { machine } from './lib/machine.ts';
import { adminClient } from './lib/redis.ts';
import { printSection, renderSection, type Section } from './lib/report.ts';
import { apiBench } from './scenarios/api.ts';
import { enqueueBench } from './scenarios/enqueue.ts';
import { imageBench } from './scenarios/image.ts';
import { latencyBench } from './scenarios/latency.ts';
import { memoryBench } from './scenarios/memory.ts';
import { noopBench } from './scenarios/noop.ts';
import { scalingBench } from './scenarios/scaling.ts';

const SCENARIOS: Record<string, (ctx: BenchContext) => Promise<Section>> = {
  noop: noopBench,
  enqueue: enqueueBench,
  latency: latencyBench,
  memory: memoryBench,
  api: apiBench,
  image: imageBench,
  scaling: scalingBench,
};

const args = process.argv.slice(2).filter((a) => a !== '--');
const quick = args.includes('--quick');
const onlyArg = args.find((a) => a.startsWith('--only'));
const onlyValue = onlyArg?.includes('=')
  ? onlyArg.split('=')[1]
  : onlyArg
    ? args[args.indexOf(onlyArg) + 1]
    : undefined;
const only = onlyValue ? onlyValue.split(',').map((s) => s.trim()) : Object.keys(SCENARIOS);
for (const name of only) {
  if (!SCENARIOS[name]) {
    process.stderr.write(`unknown scenario "${name}"; known: ${Object.keys(SCENARIOS).join(', ')}\n`);
    process.exit(2);
  }
}

const started = Date.now();
const redis = await startRedisServer();
const admin = adminClient(redis.url);
const ctx: BenchContext = {
  redis,
  admin,
  quick,
  reps: 3,
  log: (msg) => process.stdout.write(`  [${((Date.now() - started) / 1000).toFixed(0)}s] ${msg}\n`),
};
const info = machine();
process.stdout.write(
  `Bullpen bench (${quick ? 'quick' : 'full'}): ${info.nproc} CPUs (${info.cpu}), Node ${info.node}, Redis ${info.redis} ` +
    `on port ${redis.port}; interleaved Bullpen/baseline, ${ctx.reps} repeats; median [min–max]\n`,
);

const sections: Section[] = [];
let failed = false;
try {
  for (const name of only) {
    ctx.log(`${name}…`);
    try {
      const s = await SCENARIOS[name]!(ctx);
      sections.push(s);
      printSection(s);
    } catch (err) {
      failed = true;
      process.stderr.write(`scenario ${name} failed: ${(err as Error).stack}\n`);
    }
  }
} finally {
  admin.disconnect();
  await redis.stop();
}

const durationS = Math.round((Date.now() - started) / 1000);
const date = new Date().toISOString();
const day = date.slice(0, 10);
const dir = path.join(import.meta.dirname, 'results');
mkdirSync(dir, { recursive: true });
const partial = only.length < Object.keys(SCENARIOS).length || quick;
// Partial and quick runs go to tmp/ (ignored by git); a full run is the one to commit.
const base = partial ? path.join(dir, 'tmp', `${day}${quick ? '-quick' : ''}-${only.join('+')}`) : path.join(dir, day);
mkdirSync(path.dirname(base), { recursive: true });
writeFileSync(
  `${base}.json`,
  `${JSON.stringify({ date, quick, only, durationS, machine: info, sections }, null, 2)}\n`,
);
const md = [
  `## Bullpen bench, ${date}${quick ? ' (quick)' : ''}`,
  '',
  `Machine: ${info.nproc} CPUs, ${info.cpu}, ${info.memoryGb} GB; Node ${info.node}; Redis ${info.redis}; ${info.platform}.`,
  `Run: \`pnpm bench${quick ? ' -- --quick' : ''}${partial && !quick ? ` -- --only ${only.join(',')}` : ''}\`, ${durationS} s. ` +
    `Each figure: median [min–max] of ${ctx.reps} runs, Bullpen and baseline interleaved on the same Redis; ratio = Bullpen / baseline (medians).`,
  '',
  ...sections.map(renderSection).flatMap((s) => [s, '']),
].join('\n');
writeFileSync(`${base}.md`, md);
process.stdout.write(`\nwrote ${path.relative(process.cwd(), base)}.json and .md (${durationS} s)\n`);
process.exit(failed ? 1 : 0);
