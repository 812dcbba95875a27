import path from 'node:path';
import { defineConfig } from 'vitest/config';

// vitest 5's reporter calls Map.groupBy, which Node 20 lacks (it came in Node 21).
if (!('groupBy' in Map)) {
  Object.defineProperty(Map, 'groupBy', {
    value<K, T>(items: Iterable<T>, key: (item: T, i: number) => K): Map<K, T[]> {
      const out = new Map<K, T[]>();
      let i = 0;
      for (const item of items) {
        const k = key(item, i++);
        const list = out.get(k);
        if (list) list.push(item);
        else out.set(k, [item]);
      }
      return out;
    },
  });
}

const here = import.meta.dirname;

/** The reliability suite: real processes, real crashes, its own Redis servers. Run with `pnpm test:chaos`. */
export default defineConfig({
  test: {
    root: here,
    include: ['**/*.chaos.test.ts'],
    globalSetup: [path.join(here, 'global-setup.ts')],
    // One scenario at a time: they crash processes and load both cores.
    fileParallelism: false,
    testTimeout: Number(process.env.CHAOS_TEST_TIMEOUT_MS ?? 180_000),
    hookTimeout: 60_000,
  },
});
