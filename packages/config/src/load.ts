import { BullpenError } from '@bullpen/jobs';
import type { z } from 'zod';
import { type Config, type Slice, schemas } from './schema.ts';

/** Thrown by `parseConfig` with every bad or missing variable in one message. */
export class ConfigError extends BullpenError {
  constructor(
    readonly slice: Slice,
    readonly problems: string[],
  ) {
    super('CONFIG_INVALID', `Invalid ${slice} configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Parses one slice of the configuration; throws `ConfigError` listing every problem. */
export function parseConfig<S extends Slice>(
  slice: S,
  env: Record<string, string | undefined> = process.env,
): Config<S> {
  // Empty strings count as unset, so `FOO=` in a .env file falls back to the default.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = (schemas[slice] as z.ZodType).safeParse(cleaned);
  if (!result.success) {
    const problems = result.error.issues.map((i) => {
      const name = i.path.join('.') || '(config)';
      const given = cleaned[name];
      if (i.code !== 'invalid_type') return `${name}: ${i.message}`;
      // A wrong type is a number or a flag that did not parse: saying what was given helps (never a secret).
      return given === undefined
        ? `${name}: is required`
        : `${name}: expected ${i.expected}, got "${given.slice(0, 40)}"`;
    });
    throw new ConfigError(slice, problems);
  }
  return Object.freeze(result.data) as Config<S>;
}

/** For entry files: parses the slice, or prints every problem and exits 1. */
export function loadConfig<S extends Slice>(
  slice: S,
  env: Record<string, string | undefined> = process.env,
): Config<S> {
  try {
    return parseConfig(slice, env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.code}: ${err.message}\nSee .env.example for every variable and its default.\n`);
      process.exit(1);
    }
    throw err;
  }
}

/** The log format a config asks for: explicit, else json in production and pretty elsewhere. */
export function logFormatFor(cfg: { LOG_FORMAT?: 'pretty' | 'json' | undefined; NODE_ENV: string }): 'pretty' | 'json' {
  return cfg.LOG_FORMAT ?? (cfg.NODE_ENV === 'production' || cfg.NODE_ENV === 'test' ? 'json' : 'pretty');
}
