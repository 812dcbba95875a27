import type { z } from 'zod';
import type { JobDefinition } from './define.ts';
import {
  formatIssues,
  JobErrorCode,
  PayloadMigrationError,
  PayloadTooNewError,
  PayloadVersionInvalidError,
} from './errors.ts';

/**
 * One migration step, typed by what its author declares: `(old: { url: string }) => ({ urls: [old.url] })`.
 * (Method syntax, so a declared parameter type is accepted; undeclared, it is `unknown`.)
 */
export type MigrationStep<Out = unknown> = { bivarianceHack(old: unknown): Out }['bivarianceHack'];

type Tuple<N extends number, T extends unknown[] = []> = T['length'] extends N ? T : Tuple<N, [...T, unknown]>;
/** 1 .. V-1: the versions a payload may be migrated from. */
type StepsBelow<V extends number, T extends unknown[] = [unknown]> = T['length'] extends V
  ? never
  : T['length'] | StepsBelow<V, [...T, unknown]>;
type Prev<V extends number> = Tuple<V> extends [unknown, ...infer R] ? R['length'] : never;

/** `migrate[n]` turns a version-n payload into version n + 1; the last step produces today's schema input. */
export type Migrations<V extends number, S extends z.ZodType> = {
  readonly [K in StepsBelow<V>]: K extends Prev<V> ? MigrationStep<z.input<S>> : MigrationStep;
};

type Digit = '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9';
type NonZero = Exclude<Digit, '0'>;
/** Versions 1 to 99 are typed step by step; any other number is checked when the job is defined. */
type Typed<V extends number> = `${V}` extends NonZero | `${NonZero}${Digit}` ? true : false;

/**
 * What `defineJob` takes for versioning: no `migrate` at version 1; at a later version, a step for every version
 * below it, the last one typed to produce today's schema input.
 */
export type VersionInput<V extends number, S extends z.ZodType> = { version?: V } & (Typed<V> extends false
  ? { migrate?: Readonly<Record<number, MigrationStep>> }
  : [V] extends [1]
    ? { migrate?: undefined }
    : { migrate: Migrations<V, S> });

/** Checks a definition's `version` and `migrate` (a step for every version below it, nothing else). */
export function checkVersioning(name: string, version: number, migrate: object | undefined): void {
  if (!Number.isInteger(version) || version < 1) throw new TypeError(`${name}: version must be an integer >= 1`);
  const steps = (migrate ?? {}) as Record<string, unknown>;
  for (let n = 1; n < version; n++) {
    if (typeof steps[n] !== 'function') {
      throw new TypeError(`${name}: version ${version} needs migrate[${n}] (version ${n} to ${n + 1})`);
    }
  }
  for (const k of Object.keys(steps)) {
    const n = Number(k);
    if (!Number.isInteger(n) || n < 1 || n >= version) {
      throw new TypeError(`${name}: migrate[${k}] has no version to migrate to (the job is at version ${version})`);
    }
  }
}

/**
 * A payload written under `fromVersion` of job `def`, migrated step by step (`migrate[n]` turns version n into
 * n + 1) to today's version, not yet parsed. Version 1 is what a payload without a version was written under.
 * The worker, replay and `bullpen check` all go through here. Throws a permanent error: `JOB_PAYLOAD_TOO_NEW`
 * for a payload of a version this code does not know yet, `JOB_PAYLOAD_MIGRATION_FAILED` when a step throws.
 */
export function migratePayload(def: JobDefinition, payload: unknown, fromVersion: number = 1): unknown {
  const to = def.version;
  if (fromVersion === to) return payload;
  if (!Number.isInteger(fromVersion) || fromVersion < 1) throw new PayloadVersionInvalidError(def.name, fromVersion);
  if (fromVersion > to) throw new PayloadTooNewError(def.name, fromVersion, to);
  const steps = def.migrate as Readonly<Record<number, MigrationStep>>;
  let p = payload;
  for (let n = fromVersion; n < to; n++) {
    try {
      p = steps[n]!(p);
    } catch (err) {
      throw new PayloadMigrationError(def.name, n, err);
    }
  }
  return p;
}

/** What a stored payload (a queued job's, a letter's) comes to under today's definition. */
export type PayloadCheck =
  | { ok: true; payload: unknown; migrated: boolean }
  | { ok: false; code: string; reason: string; issues?: z.core.$ZodIssue[] };

/**
 * Migrates (see `migratePayload`) and parses a stored payload with today's schema, without throwing: what replay,
 * the dashboard and `bullpen check` ask of a payload. `fromVersion` is the envelope's `meta.v` (absent: 1).
 */
export function checkPayload(def: JobDefinition, payload: unknown, fromVersion: number = 1): PayloadCheck {
  let migrated: unknown;
  try {
    migrated = migratePayload(def, payload, fromVersion);
  } catch (err) {
    const e = err as Error & { code: string };
    return { ok: false, code: e.code, reason: e.message };
  }
  const parsed = def.payload.safeParse(migrated);
  if (!parsed.success) {
    return {
      ok: false,
      code: JobErrorCode.JOB_PAYLOAD_INVALID,
      reason: formatIssues(parsed.error.issues),
      issues: parsed.error.issues,
    };
  }
  return { ok: true, payload: parsed.data, migrated: fromVersion !== def.version };
}

/** The `meta.v` to stamp for a payload of today's version: none at version 1 (absent means 1). */
export function versionMeta(def: JobDefinition): { v?: number } {
  return def.version === 1 ? {} : { v: def.version };
}
