import { z } from 'zod';
import { errorResponse } from './api-schemas';
import { ERROR_CATALOGUE, type ErrorCode } from '../../core/error-catalogue';
import { type ApiRoute, errorCodesOf } from './route-table';

/** Builds the OpenAPI 3.1 document from the same route table the router is built from. */

type JsonSchema = Record<string, unknown> & {
  properties?: Record<string, Record<string, unknown>>;
  required?: string[];
};

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  delete out.$schema;
  return out;
}

function parametersOf(schema: z.ZodType | undefined, where: 'path' | 'query'): Record<string, unknown>[] {
  if (!schema) return [];
  const s = jsonSchema(schema, 'input');
  const required = new Set(s.required ?? []);
  return Object.entries(s.properties ?? {}).map(([name, prop]) => ({
    name,
    in: where,
    required: where === 'path' || required.has(name),
    schema: prop,
    ...(typeof prop.description === 'string' ? { description: prop.description } : {}),
  }));
}

export function buildOpenApiDocument(
  routes: ApiRoute[],
  base: string,
  version: string,
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const errorRef = { $ref: '#/components/schemas/Error' };
  for (const r of routes) {
    const responses: Record<string, unknown> = {};
    responses[String(r.success.status)] = r.success.schema
      ? {
          description: r.success.description,
          content: { 'application/json': { schema: jsonSchema(r.success.schema, 'output') } },
        }
      : { description: r.success.description };
    // One response per status; its description names each code with its meaning, and the error
    // schema narrows `error` to those codes, so a client can switch on them.
    const byStatus = new Map<number, ErrorCode[]>();
    for (const code of errorCodesOf(r)) {
      const status = ERROR_CATALOGUE[code].status;
      byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
    }
    for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
      responses[String(status)] = {
        description: codes.map((c) => `${c}: ${ERROR_CATALOGUE[c].meaning}`).join('; '),
        content: {
          'application/json': {
            schema: { allOf: [errorRef, { type: 'object', properties: { error: { enum: codes } } }] },
          },
        },
      };
    }
    const operation: Record<string, unknown> = {
      operationId: `${r.method}${r.path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      summary: r.summary,
      tags: [r.tag],
      parameters: [...parametersOf(r.params, 'path'), ...parametersOf(r.query, 'query')],
      responses,
      ...(r.auth === false ? { security: [] } : {}),
    };
    if (r.body) {
      operation.requestBody = {
        required: true,
        content: { 'application/json': { schema: jsonSchema(r.body, 'input') } },
      };
    }
    (paths[base + r.path] ??= {})[r.method] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'uuru-federation admin API',
      version,
      description:
        'Manage peerings, policy and keys of a uuru-federation sidecar. Authenticate with "Authorization: Bearer <token>" ' +
        '(create one with "uuru-fed token create <name>"); panel sessions also work and then need the X-CSRF-Token header ' +
        'on POST, PUT and DELETE. Errors are {"error": CODE, "message": text}.',
    },
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: jsonSchema(errorResponse, 'output') },
    },
  };
}
