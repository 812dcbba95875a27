// CPU profile of the no-op worker path, Bullpen or raw BullMQ, for finding what the framework costs:
//   node --cpu-prof --cpu-prof-dir bench/results/tmp/prof --import tsx bench/tools/profile-noop.ts bullpen 10 20000
//   tsx bench/tools/summarize-cpuprofile.ts bench/results/tmp/prof/<file>.cpuprofile
import { startRedisServer } from '@bullpen/test-utils';
import type { BenchContext } from '../lib/bench-context.ts';
import { adminClient } from '../lib/redis.ts';
import { drainNoop } from '../scenarios/noop.ts';

const [side = 'bullpen', c = '10', n = '20000'] = process.argv.slice(2);
const redis = await startRedisServer();
const admin = adminClient(redis.url);
const ctx: BenchContext = { redis, admin, quick: true, reps: 1, log: () => {} };
try {
  const m = await drainNoop(ctx, side === 'raw' ? 'raw' : 'bullpen', Number(c), Number(n));
  process.stdout.write(
    `${side} c=${c}: ${m.perS.toFixed(0)} jobs/s, Redis CPU ${m.redisCpuUsPerJob.toFixed(1)} µs/job\n`,
  );
} finally {
  admin.disconnect();
  await redis.stop();
}
