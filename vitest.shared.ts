// What every vitest config of the repository shares (the root suite and bench/chaos).

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

/**
 * Workspace packages resolve to their TypeScript source under this condition (see each package's `exports`),
 * so tests never run a stale dist/. Child processes get it too (`tsNodeArgs` in packages/test-utils).
 */
// Ours first, then what Node itself matches (not 'module': packages such as the AWS SDK's point it at ESM Node cannot load).
const conditions = ['@bullpen/source', 'node', 'development|production'];
export const sourceResolution = { ssr: { resolve: { conditions } } };

/** CI sets VITEST_JSON_REPORT to a path: the run also writes a JSON report there, for its summary line. */
export function reporters(): (string | [string, Record<string, unknown>])[] {
  const jsonReport = process.env.VITEST_JSON_REPORT;
  return jsonReport ? ['default', ['json', { outputFile: jsonReport }]] : ['default'];
}
