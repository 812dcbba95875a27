import { defineConfig } from 'vitest/config';
import { reporters, sourceResolution } from '../../vitest.shared.ts';

/**
 * `pnpm test:compose`: the stack under a real container engine (build, scale, health, a SIGKILLed worker
 * container). Skipped, saying why, when no engine answers.
 */
export default defineConfig({
  ...sourceResolution,
  test: {
    reporters: reporters(),
    root: import.meta.dirname,
    include: ['**/*.smoke.test.ts'],
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 900_000,
  },
});
