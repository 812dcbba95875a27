import type { FastifySchema, FastifySchemaCompiler } from 'fastify';
import type { FastifySerializerCompiler } from 'fastify/types/schema.js';
import { z } from 'zod';

const isZod = (v: unknown): v is z.ZodType => v instanceof z.ZodType;

/**
 * What a zod error says, for an answer: the schema's field names and rules only. Unknown keys are counted,
 * not named, and no issue message quotes a value (the schemas' own messages do not either), so nothing of
 * the request is echoed.
 */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => {
      const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
      if (issue.code === 'unrecognized_keys') return `${where}unknown field${issue.keys.length > 1 ? 's' : ''}`;
      return `${where}${issue.message}`;
    })
    .join('; ');
}

/** Fastify validates route schemas that are zod schemas with zod itself (the parsed value replaces the input). */
export const zodValidatorCompiler: FastifySchemaCompiler<unknown> =
  ({ schema }) =>
  (data) => {
    if (!isZod(schema)) return { value: data };
    const result = schema.safeParse(data);
    if (result.success) return { value: result.data };
    const err = new Error(describeIssues(result.error));
    return { error: err };
  };

/** Responses are plain JSON; their zod schemas exist for the documentation. */
export const jsonSerializerCompiler: FastifySerializerCompiler<unknown> = () => (data) => JSON.stringify(data);

function toJson(schema: unknown, io: 'input' | 'output'): unknown {
  if (!isZod(schema)) return schema;
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete json.$schema;
  return json;
}

/** @fastify/swagger `transform`: turns a route's zod schemas into JSON Schema for the OpenAPI document. */
export function zodSwaggerTransform({ schema, url }: { schema: FastifySchema; url: string }) {
  if (!schema) return { schema, url };
  const out: Record<string, unknown> = { ...schema };
  for (const part of ['params', 'querystring', 'headers', 'body'] as const) {
    if (schema[part]) out[part] = toJson(schema[part], 'input');
  }
  // A body documented but parsed by hand (multipart, streamed): never handed to Fastify's validation.
  const docsBody = (schema as { docsBody?: unknown }).docsBody;
  if (docsBody) {
    out.body = toJson(docsBody, 'input');
    delete out.docsBody;
  }
  if (schema.response && typeof schema.response === 'object') {
    const response: Record<string, unknown> = {};
    for (const [code, s] of Object.entries(schema.response as Record<string, unknown>)) {
      // { description, content } objects pass through; bare zod schemas are converted.
      response[code] = isZod(s) ? { ...(toJson(s, 'output') as object), description: s.description ?? 'Answer' } : s;
    }
    out.response = response;
  }
  return { schema: out as FastifySchema, url };
}
