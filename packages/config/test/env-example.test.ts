import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { schemas } from '../src/index.ts';

function keysOf(schema: z.ZodType): string[] {
  const def = (schema as unknown as { def: { type: string; shape?: object; left?: z.ZodType; right?: z.ZodType } }).def;
  if (def.type === 'object') return Object.keys(def.shape ?? {});
  if (def.type === 'intersection') return [...keysOf(def.left!), ...keysOf(def.right!)];
  throw new Error(`unexpected schema type ${def.type}`);
}

/** The README's tables, by their first column: every backticked name in it. */
function readmeColumn(heading: string): Set<string> {
  const text = readFileSync(path.resolve(import.meta.dirname, '../../../README.md'), 'utf8');
  const start = text.indexOf(`\n## ${heading}\n`);
  const end = text.indexOf('\n## ', start + 1);
  const rows = text
    .slice(start, end)
    .split('\n')
    .filter((l) => l.startsWith('| `'));
  return new Set(rows.flatMap((r) => [...r.split('|')[1]!.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]!)));
}

describe('the README configuration table', () => {
  it('lists every variable of every slice, and nothing else', () => {
    const listed = readmeColumn('Configuration');
    const known = new Set(Object.values(schemas).flatMap((s) => keysOf(s as z.ZodType)));
    expect([...known].filter((k) => !listed.has(k)).sort()).toEqual([]);
    expect([...listed].filter((k) => !known.has(k)).sort()).toEqual([]);
  });
});

describe('.env.example', () => {
  it('lists every variable of every slice, and nothing else', () => {
    const text = readFileSync(path.resolve(import.meta.dirname, '../../../.env.example'), 'utf8');
    const listed = new Set(
      text
        .split('\n')
        .filter((l) => /^[A-Z][A-Z0-9_]*=/.test(l))
        .map((l) => l.slice(0, l.indexOf('='))),
    );
    const known = new Set(Object.values(schemas).flatMap((s) => keysOf(s as z.ZodType)));
    expect(known.size).toBeGreaterThan(30);
    expect([...known].filter((k) => !listed.has(k)).sort()).toEqual([]);
    expect([...listed].filter((k) => !known.has(k)).sort()).toEqual([]);
  });
});
