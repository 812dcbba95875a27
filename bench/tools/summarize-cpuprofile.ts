// Self time of a .cpuprofile by function and by file:line, the framework's own files first.
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Frames of the repo's own files are shown by their path in it. */
const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
  hitCount?: number;
}
const file = process.argv[2]!;
const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
prof.samples.forEach((id, i) => {
  self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
});
const total = [...self.values()].reduce((a, b) => a + b, 0);
// Inclusive time per node: self plus children.
const inclusive = new Map<number, number>();
const incl = (id: number): number => {
  const cached = inclusive.get(id);
  if (cached !== undefined) return cached;
  const n = byId.get(id)!;
  const v = (self.get(id) ?? 0) + (n.children ?? []).reduce((a, c) => a + incl(c), 0);
  inclusive.set(id, v);
  return v;
};
for (const n of prof.nodes) incl(n.id);
const short = (url: string) =>
  url
    .replace(/^file:\/\//, '')
    .replace(/.*node_modules\/\.pnpm\/([^/]+)\/node_modules\//, '$1:')
    .replace(`${REPO_ROOT}/`, '');
const group = (key: (n: Node) => string, map: Map<number, number>) => {
  const out = new Map<string, number>();
  for (const n of prof.nodes) {
    const v = map.get(n.id) ?? 0;
    if (v) out.set(key(n), (out.get(key(n)) ?? 0) + v);
  }
  return [...out.entries()].sort((a, b) => b[1] - a[1]);
};
const pct = (v: number) => `${((v / total) * 100).toFixed(1)}%`;
const byPackage = (n: Node) => {
  const u = short(n.callFrame.url);
  if (!u) return `(${n.callFrame.functionName || 'native'})`;
  const m = /^([^:]+?)@[\d.]+[^:]*:/.exec(u);
  if (m) return m[1]!;
  if (u.startsWith('node:')) return 'node internals';
  return u.split('/').slice(0, 3).join('/');
};
console.log(`total sampled ${(total / 1e6).toFixed(2)} s`);
console.log('\nself time by package/folder:');
for (const [k, v] of group(byPackage, self).slice(0, 15)) console.log(`  ${pct(v).padStart(6)}  ${k}`);
console.log('\nself time by function:');
for (const [k, v] of group(
  (n) => `${n.callFrame.functionName || '(anon)'}  ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`,
  self,
).slice(0, 30))
  console.log(`  ${pct(v).padStart(6)}  ${k}`);
console.log('\ninclusive time of packages/jobs/src functions (nested frames counted once per frame):');
const jobs = prof.nodes.filter((n) => n.callFrame.url.includes('packages/jobs/src'));
const jobsIncl = new Map<string, number>();
for (const n of jobs) {
  const k = `${n.callFrame.functionName || '(anon)'}  ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  jobsIncl.set(k, (jobsIncl.get(k) ?? 0) + (inclusive.get(n.id) ?? 0));
}
for (const [k, v] of [...jobsIncl.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25))
  console.log(`  ${pct(v).padStart(6)}  ${k}`);
