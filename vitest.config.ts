import { existsSync, readdirSync } from 'node:fs';
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

// CI sets VITEST_JSON_REPORT to a path: the run also writes a JSON report there, for its summary line.
const jsonReport = process.env.VITEST_JSON_REPORT;

export default defineConfig({
  test: {
    reporters: jsonReport ? ['default', ['json', { outputFile: jsonReport }]] : ['default'],
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
