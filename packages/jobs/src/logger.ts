import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  name: string;
  /** Default `info`. */
  level?: string;
  /** `pretty` for a person at a terminal, `json` for machines. Default: json. */
  format?: 'pretty' | 'json';
}

/** Paths that must never reach a log line. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  '*.password',
  '*.secret',
  'payload',
  '*.payload',
];

/** The pino options every Bullpen process uses (also handed to Fastify). */
export function loggerOptions(opts: LoggerOptions): pino.LoggerOptions {
  return {
    name: opts.name,
    level: opts.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    ...(opts.format === 'pretty'
      ? {
          transport: {
            target: 'pino-pretty',
            options: { colorize: Boolean(process.stdout.isTTY), translateTime: 'SYS:HH:MM:ss.l' },
          },
        }
      : {}),
  };
}

export function createLogger(opts: LoggerOptions): Logger {
  return pino(loggerOptions(opts));
}

/** The log format a config asks for: explicit, else json in production and pretty elsewhere. */
export function logFormatFor(cfg: { LOG_FORMAT?: 'pretty' | 'json' | undefined; NODE_ENV: string }): 'pretty' | 'json' {
  return cfg.LOG_FORMAT ?? (cfg.NODE_ENV === 'production' || cfg.NODE_ENV === 'test' ? 'json' : 'pretty');
}
