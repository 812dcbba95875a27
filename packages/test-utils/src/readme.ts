import { readFileSync } from 'node:fs';
import path from 'node:path';

const README = path.resolve(import.meta.dirname, '../../../README.md');

/** Every code named in the first column of the README's "Error codes" table. */
export function readmeErrorCodes(): Set<string> {
  const text = readFileSync(README, 'utf8');
  const start = text.indexOf('\n## Error codes\n');
  if (start < 0) throw new Error('README.md has no "## Error codes" section');
  const end = text.indexOf('\n## ', start + 1);
  const rows = text
    .slice(start, end === -1 ? undefined : end)
    .split('\n')
    .filter((l) => l.startsWith('| `'));
  return new Set(rows.flatMap((r) => [...r.split('|')[1]!.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]!)));
}

/** The codes of `codes` that the README's error table does not list (a public code must be documented). */
export function undocumentedCodes(codes: Iterable<string>): string[] {
  const listed = readmeErrorCodes();
  return [...new Set(codes)].filter((c) => !listed.has(c)).sort();
}
