import { createRequire } from 'node:module';
import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  name: string;
  /** Default `info`. */
  level?: string;
  /**
   * `pretty` for a person at a terminal (needs the optional `pino-pretty` package; json without it), `json`
   * for machines. Default: json.
   */
  format?: 'pretty' | 'json';
  /**
   * Fields added to every line, computed when it is written (pino's `mixin`): e.g. the active trace's
   * `trace_id` and `span_id`. Default: none.
   */
  mixin?: () => Record<string, unknown>;
}

/** Paths that must never reach a log line. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'password',
  'secret',
  '*.password',
  '*.secret',
  'payload',
  '*.payload',
];

/** Where `pino-pretty` is, when it is installed (an optional peer: production images leave it out). */
function prettyTarget(): string | undefined {
  try {
    return createRequire(import.meta.url).resolve('pino-pretty');
  } catch {
    return undefined;
  }
}

/** The pino options every Bullpen process uses (also handed to Fastify). */
export function loggerOptions(opts: LoggerOptions): pino.LoggerOptions {
  const pretty = opts.format === 'pretty' ? prettyTarget() : undefined;
  return {
    name: opts.name,
    level: opts.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    ...(opts.mixin ? { mixin: opts.mixin } : {}),
    ...(pretty
      ? {
          transport: {
            target: pretty,
            // One line per entry: a terminal full of a running stack's logs stays readable.
            options: {
              colorize: Boolean(process.stdout.isTTY),
              translateTime: 'SYS:HH:MM:ss.l',
              singleLine: true,
              ignore: 'pid,hostname',
            },
          },
        }
      : {}),
  };
}

export function createLogger(opts: LoggerOptions): Logger {
  return pino(loggerOptions(opts));
}
