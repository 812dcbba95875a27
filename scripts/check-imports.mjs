#!/usr/bin/env node
// Import rules CI enforces (madge needs the TypeScript compiler API, which TypeScript 7 no longer has):
// no circular imports between source files; apps never import each other; imports run one way,
// apps -> packages/uploads -> packages/jobs, packages/storage. packages/jobs is the published framework: it
// imports no other workspace package and never Fastify, sharp, the AWS SDK or an app.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const groups = ['apps', 'packages'];
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (/\.(ts|mts|mjs)$/.test(name) && !name.endsWith('.d.ts')) files.push(p);
  }
}
for (const g of groups) {
  const dir = path.join(root, g);
  if (!existsSync(dir)) continue;
  for (const pkg of readdirSync(dir)) {
    const src = path.join(dir, pkg, 'src');
    if (existsSync(src)) walk(src);
  }
}

/** The workspace packages each package may import (apps may import any package, never another app). */
const MAY_IMPORT = {
  'packages/jobs': [],
  'packages/config': ['jobs'],
  'packages/storage': ['jobs'],
  'packages/uploads': ['jobs', 'storage'],
  'packages/http': ['jobs'],
  // The apps' OpenTelemetry setup: no workspace package (the framework must not depend on it either).
  'packages/observability': [],
  'packages/test-utils': [],
};

const IMPORT = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]/g;
const owner = (file) => path.relative(root, file).split(path.sep).slice(0, 2).join('/');
const problems = [];
const graph = new Map();

for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const deps = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1];
    const from = owner(file);
    if (spec.startsWith('.')) {
      const target = path.resolve(path.dirname(file), spec);
      // Type-only imports make no runtime cycle; the layering rules still apply to them.
      if (!/\bimport\s+type\b/.test(m[0])) deps.push(target);
      const to = owner(target);
      if (to !== from) problems.push(`${path.relative(root, file)} reaches into ${to} by a relative path`);
    } else if (spec.startsWith('@bullpen/')) {
      const name = spec.split('/')[1];
      const allowed = MAY_IMPORT[from];
      if (allowed && !allowed.includes(name)) {
        problems.push(
          `${path.relative(root, file)}: ${from} must not import ${spec} (it may import: ${allowed.join(', ') || 'no workspace package'})`,
        );
      }
    } else if (
      from === 'packages/jobs' &&
      /^(fastify|@fastify\/|sharp|@bull-board\/|@aws-sdk\/|@opentelemetry\/|bullmq-otel)/.test(spec)
    ) {
      problems.push(`${path.relative(root, file)}: packages/jobs must not import ${spec}`);
    }
    if (from.startsWith('apps/') && spec.startsWith('@bullpen/')) {
      const name = spec.split('/')[1];
      if (['api', 'worker', 'dashboard'].includes(name) && `apps/${name}` !== from) {
        problems.push(`${path.relative(root, file)} imports another app (${spec})`);
      }
    }
  }
  graph.set(file, deps);
}

// Cycles, by depth-first search over runtime imports.
const state = new Map();
const stack = [];
function visit(file) {
  state.set(file, 'visiting');
  stack.push(file);
  for (const dep of graph.get(file) ?? []) {
    if (!graph.has(dep)) continue;
    if (state.get(dep) === 'visiting') {
      const cycle = stack
        .slice(stack.indexOf(dep))
        .concat(dep)
        .map((f) => path.relative(root, f));
      problems.push(`circular import: ${cycle.join(' -> ')}`);
    } else if (!state.has(dep)) visit(dep);
  }
  stack.pop();
  state.set(file, 'done');
}
for (const file of graph.keys()) if (!state.has(file)) visit(file);

if (problems.length) {
  console.error(`Import rules broken:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  process.exit(1);
}
console.log(`imports ok: ${files.length} files, no cycles, layering respected`);
