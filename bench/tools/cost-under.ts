// Where the time under one function goes: inclusive time of each frame called (directly or not) under it,
// by function and package. Usage: tsx bench/tools/cost-under.ts <file.cpuprofile> <functionName> [urlPart]
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Frames of the repo's own files are shown by their path in it. */
const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

interface Node {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
const [file, fn, urlPart = ''] = process.argv.slice(2);
const prof = JSON.parse(readFileSync(file!, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
prof.samples.forEach((id, i) => {
  self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
});
const incl = new Map<number, number>();
const inclusive = (id: number): number => {
  if (incl.has(id)) return incl.get(id)!;
  const v = (self.get(id) ?? 0) + (byId.get(id)!.children ?? []).reduce((a, c) => a + inclusive(c), 0);
  incl.set(id, v);
  return v;
};
const short = (u: string) =>
  u
    .replace(/^file:\/\//, '')
    .replace(/.*node_modules\/\.pnpm\/([^@/]+)@[^/]+\/node_modules\/.*/, '$1')
    .replace(`${REPO_ROOT}/`, '');
const roots = prof.nodes.filter((n) => n.callFrame.functionName === fn && n.callFrame.url.includes(urlPart));
const rootTotal = roots.reduce((a, r) => a + inclusive(r.id), 0);
const out = new Map<string, number>();
// Direct children of the roots (and of anonymous/await frames in the same file), inclusive.
const walk = (n: Node, depth: number) => {
  for (const c of n.children ?? []) {
    const child = byId.get(c)!;
    const k = `${child.callFrame.functionName || '(anon)'} ${short(child.callFrame.url)}`;
    if (depth < 2) out.set(k, (out.get(k) ?? 0) + inclusive(c));
    if (child.callFrame.url.includes(urlPart) && depth < 2) walk(child, depth + 1);
  }
};
for (const r of roots) walk(r, 0);
console.log(`${fn}: ${(rootTotal / 1000).toFixed(0)} ms inclusive in ${roots.length} frames`);
for (const [k, v] of [...out.entries()].sort((a, b) => b[1] - a[1]).slice(0, 30))
  console.log(`  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`);
