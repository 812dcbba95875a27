import { type JobDefinition, jobDataSchema } from '@bullpen/jobs';
import { z } from 'zod';

/** The JSON schema of a job's payload, as people and Bull Board read it (schema input: defaults optional). */
export function payloadJsonSchema(def: JobDefinition): Record<string, unknown> {
  try {
    return z.toJSONSchema(def.payload, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** The JSON schema of a source queue's job data: Bullpen's envelope around the payload of each of its jobs. */
export function queueDataJsonSchema(jobs: readonly JobDefinition[]): Record<string, unknown> | undefined {
  const schemas = jobs.map((def) => {
    try {
      const s = z.toJSONSchema(jobDataSchema(def), {
        io: 'input',
        unrepresentable: 'any',
      });
      return { title: def.name, ...(def.description ? { description: def.description } : {}), ...s };
    } catch {
      return undefined;
    }
  });
  const ok = schemas.filter((s) => s !== undefined);
  if (ok.length === 0) return undefined;
  return ok.length === 1 ? ok[0] : { oneOf: ok };
}
