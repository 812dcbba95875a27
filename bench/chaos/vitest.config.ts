import path from 'node:path';
import { defineConfig } from 'vitest/config';
import { reporters, sourceResolution } from '../../vitest.shared.ts';

const here = import.meta.dirname;

/** The reliability suite: real processes, real crashes, its own Redis servers. Run with `pnpm test:chaos`. */
export default defineConfig({
  ...sourceResolution,
  test: {
    reporters: reporters(),
    root: here,
    include: ['**/*.chaos.test.ts'],
    globalSetup: [path.join(here, 'global-setup.ts')],
    // One scenario at a time: they crash processes and load both cores.
    fileParallelism: false,
    testTimeout: Number(process.env.CHAOS_TEST_TIMEOUT_MS ?? 180_000),
    hookTimeout: 60_000,
  },
});
