import { z } from 'zod';

/** Parses `"true"|"1"|"yes"|"on"` as true and `"false"|"0"|"no"|"off"|""` as false. */
export const envBoolean = (fallback: boolean) =>
  z.preprocess((v) => {
    if (typeof v === 'boolean') return v;
    if (v === undefined) return fallback;
    const s = String(v).trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(s)) return true;
    if (['false', '0', 'no', 'off', ''].includes(s)) return false;
    return v;
  }, z.boolean());

/** An integer read from a string, with bounds. */
export const envInt = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

/** A number (fractions allowed) read from a string, with bounds. */
export const envNumber = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().min(min).max(max).default(fallback);

/** A comma-separated list. */
export const envList = (fallback: string[]) =>
  z.preprocess(
    (v) =>
      typeof v === 'string'
        ? v
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : v,
    z.array(z.string()).default(fallback),
  );
