/** Where a command writes: the process's streams in the bin, buffers in tests. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** The environment (REDIS_URL, BULLPEN_PREFIX, ...); the bin passes `process.env`. */
  env: Readonly<Record<string, string | undefined>>;
  /** Where relative `--registry` paths and package names resolve from. */
  cwd: string;
}

/** What a command produced: one JSON document for `--json`, lines for people, and its exit code. */
export interface CommandResult {
  exitCode: number;
  json: unknown;
  text: string;
}

/** Columns padded to their widest cell; the last column is never padded. No colour: output is often piped. */
export function table(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = [headers, ...rows].map((r) => r.map((c) => oneLine(c)));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]?.length ?? 0)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** A cell: one line, at most 100 characters. */
export function oneLine(value: unknown, max = 100): string {
  const s = value === undefined || value === null ? '' : String(value).replace(/\s+/g, ' ').trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export function indent(text: string, by = '  '): string {
  return text
    .split('\n')
    .map((l) => (l ? by + l : l))
    .join('\n');
}
