// CPU profile of the producer path, one Bullpen or raw BullMQ side of bench 2, for finding what enqueue costs:
//   node --cpu-prof --cpu-prof-dir bench/results/tmp/prof --import tsx bench/tools/profile-enqueue.ts bullpen-new-key '50 in flight' 50000
//   tsx bench/tools/summarize-cpuprofile.ts bench/results/tmp/prof/<file>.cpuprofile
import { startRedisServer } from '@bullpen/test-utils';
import type { BenchContext } from '../lib/bench-context.ts';
import { adminClient } from '../lib/redis.ts';
import { type Mode, measureEnqueue, type Side } from '../scenarios/enqueue.ts';

const [side = 'bullpen-new-key', mode = 'one-by-one', n = '20000'] = process.argv.slice(2);
const redis = await startRedisServer();
const admin = adminClient(redis.url);
const ctx: BenchContext = { redis, admin, quick: true, reps: 1, log: () => {} };
try {
  const m = await measureEnqueue(ctx, side as Side, mode as Mode, Number(n));
  process.stdout.write(
    `${side} ${mode}: ${m.perS.toFixed(0)} jobs/s, Redis CPU ${m.redisCpuUsPerJob.toFixed(1)} µs/job\n`,
  );
} finally {
  admin.disconnect();
  await redis.stop();
}
