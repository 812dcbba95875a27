import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { defineConfig } from 'vitest/config';
import { reporters, sourceResolution } from './vitest.shared.ts';

const root = import.meta.dirname;
const globalSetup = [path.join(root, 'packages/test-utils/src/global-setup.ts')];

// Every package and app is a project of one run, so CI reads one summary.
const dirs = ['packages', 'apps'].flatMap((group) =>
  existsSync(path.join(root, group))
    ? readdirSync(path.join(root, group))
        .filter((name) => existsSync(path.join(root, group, name, 'package.json')))
        .map((name) => path.join(group, name))
    : [],
);

export default defineConfig({
  ...sourceResolution,
  test: {
    reporters: reporters(),
    projects: dirs.map((dir) => ({
      test: {
        name: path.basename(dir),
        root: path.join(root, dir),
        include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
        globalSetup,
        testTimeout: 60_000,
        hookTimeout: 30_000,
      },
    })),
  },
});
