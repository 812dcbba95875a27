import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { RedisClient } from './connection.ts';

export interface JobLogOptions {
  /**
   * Lines (info and above) of one attempt written to the job's BullMQ log, which Bull Board's Logs tab shows;
   * past it, one "… N more lines" line. The job's log keeps its last `4 × maxLines` lines. Default 50.
   */
  maxLines?: number;
  /** The last lines of the final attempt kept in its dead letter (`letter.logs`). Default 20. */
  letterLines?: number;
}

/** pino asks a stream with this (global) symbol for the level of each line before it writes it. */
const NEEDS_METADATA = Symbol.for('pino.metadata');
/** Lines sent to Redis at once while an attempt is still running. */
const BATCH = 20;
const INFO = 30;
const LEVELS: Record<number, string> = { 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
/** Fields of a line that its job's log does not need to repeat (pino's own, the job's bindings, trace ids). */
const OMIT = new Set([
  'level',
  'time',
  'pid',
  'hostname',
  'name',
  'msg',
  'queue',
  'job',
  'jobId',
  'attempt',
  'requestId',
  'trace_id',
  'span_id',
  'trace_flags',
]);
const MAX_FIELDS_CHARS = 400;

type Stream = { write(s: string): void; flush?: (cb?: (err?: Error) => void) => void } & Record<PropertyKey, unknown>;

/**
 * The symbol under which a pino logger keeps its destination stream. pino creates it with `Symbol()` per copy
 * of the module, so it is looked up on the logger itself: the application's pino may not be ours.
 */
function streamSymbolOf(logger: Logger): symbol | undefined {
  for (let o: object | null = logger; o; o = Object.getPrototypeOf(o)) {
    for (const s of Object.getOwnPropertySymbols(o)) if (s.description === 'pino.stream') return s;
  }
  return undefined;
}

/** `2026-12-03T10:00:00.000Z info upload.done {"uploadId":"upl_1"}` from a pino JSON line. */
export function formatLogLine(raw: string): string {
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return raw.trim().slice(0, 1000);
  }
  const t = obj.time;
  const time = typeof t === 'number' ? new Date(t).toISOString() : typeof t === 'string' ? t : new Date().toISOString();
  const level = typeof obj.level === 'number' ? (LEVELS[obj.level] ?? String(obj.level)) : String(obj.level ?? '');
  const rest: Record<string, unknown> = {};
  let any = false;
  for (const [k, v] of Object.entries(obj)) {
    if (OMIT.has(k)) continue;
    // An error's stack is in the job's failure already: its type and message are enough here.
    if (k === 'err' && v && typeof v === 'object') {
      const e = v as { type?: unknown; message?: unknown };
      rest[k] = `${String(e.type ?? 'Error')}: ${String(e.message ?? '')}`;
    } else rest[k] = v;
    any = true;
  }
  let fields = any ? ` ${JSON.stringify(rest)}` : '';
  if (fields.length > MAX_FIELDS_CHARS) fields = `${fields.slice(0, MAX_FIELDS_CHARS)}…`;
  return `${time} ${level} ${String(obj.msg ?? '')}${fields}`;
}

/**
 * Per worker: where job logs go, and how a job's child logger is teed into them. With no pino stream to tee
 * (a logger that is not pino's), job logs are off.
 */
export class JobLogs {
  readonly maxLines: number;
  readonly letterLines: number;
  private readonly streamSym: symbol | undefined;

  constructor(
    private readonly client: RedisClient,
    baseLogger: Logger,
    opts: JobLogOptions = {},
  ) {
    this.maxLines = Math.max(0, opts.maxLines ?? 50);
    this.letterLines = Math.max(0, opts.letterLines ?? 20);
    this.streamSym = streamSymbolOf(baseLogger);
  }

  /**
   * Tees `child` (one attempt's logger, made for this call) into the job's log: lines it (or a child of it)
   * writes at info and above are also kept for the job. Returns the sink, or undefined when job logs are off.
   */
  attach(child: Logger, job: Job): JobLog | undefined {
    const sym = this.streamSym;
    if (!sym || (this.maxLines === 0 && this.letterLines === 0)) return undefined;
    const target = (child as unknown as Record<symbol, Stream>)[sym];
    if (!target || typeof target.write !== 'function') return undefined;
    const sink = new JobLog(this.client, `${job.queueQualifiedName}:${job.id}:logs`, this.maxLines, this.letterLines);
    (child as unknown as Record<symbol, unknown>)[sym] = teeStream(target, sink);
    return sink;
  }
}

/** A stream that writes to `target` as before and gives `sink` each line at info and above. */
function teeStream(target: Stream, sink: JobLog): Stream {
  const tee: Stream = {
    // pino then sets lastLevel (and the rest) on this stream before each write.
    [NEEDS_METADATA]: true,
    lastLevel: 0,
    write(s: string) {
      if (target[NEEDS_METADATA] === true) {
        // A multistream routes by these: pass them on.
        target.lastLevel = tee.lastLevel;
        target.lastObj = tee.lastObj;
        target.lastMsg = tee.lastMsg;
        target.lastTime = tee.lastTime;
        target.lastLogger = tee.lastLogger;
      }
      target.write(s);
      if ((tee.lastLevel as number) >= INFO) sink.add(s);
    },
    flush(cb?: (err?: Error) => void) {
      if (typeof target.flush === 'function') target.flush(cb);
      else cb?.();
    },
  };
  return tee;
}

/**
 * One attempt's lines: formatted short, written to the job's BullMQ log in batches (a pipeline of one RPUSH
 * and one LTRIM, never a round trip per line), at most `maxLines` of them; the last `letterLines` are kept for
 * the dead letter. Made only when the handler uses `ctx.log`.
 */
export class JobLog {
  private pending: string[] = [];
  private accepted = 0;
  private dropped = 0;
  /** The last lines, raw (formatted when a letter asks). */
  private readonly recent: string[] = [];
  private inflight: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly client: RedisClient,
    private readonly key: string,
    private readonly maxLines: number,
    private readonly letterLines: number,
  ) {}

  add(raw: string): void {
    if (this.closed) return;
    if (this.letterLines > 0) {
      this.recent.push(raw);
      if (this.recent.length > this.letterLines) this.recent.shift();
    }
    if (this.accepted >= this.maxLines) {
      this.dropped++;
      return;
    }
    this.accepted++;
    this.pending.push(formatLogLine(raw));
    if (this.pending.length >= BATCH) this.send();
  }

  /** The attempt is over: writes what is pending (and the count of lines left out). Never rejects. */
  async flush(): Promise<void> {
    if (this.closed) return this.inflight;
    this.closed = true;
    if (this.dropped > 0) this.pending.push(`… ${this.dropped} more line${this.dropped === 1 ? '' : 's'}`);
    this.send();
    await this.inflight;
  }

  /** The last lines of the attempt, formatted, oldest first. */
  lastLines(): string[] {
    return this.recent.map(formatLogLine);
  }

  private send(): void {
    if (this.pending.length === 0) return;
    const lines = this.pending;
    this.pending = [];
    const write = this.client
      .pipeline()
      .rpush(this.key, ...lines)
      .ltrim(this.key, -4 * Math.max(this.maxLines, 1), -1)
      .exec()
      .then(
        () => {},
        // The job's own outcome matters more than its log lines: never fail a job over them.
        () => {},
      );
    // One connection keeps the batches in order; the last one settles after the others.
    this.inflight = write;
  }
}
