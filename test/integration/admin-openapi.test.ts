import type { Router } from 'express';
import { typeormFederationStores } from '../../src/store/typeorm';
import { openSideDatabase } from '../../src/store/side-sql';
import { TypeormStateGauges } from '../../src/store/state-gauges';
import { DisabledAsteriskPort } from '../../src/core/asterisk-port';
import { ERROR_CATALOGUE, isErrorCode } from '../../src/core/error-catalogue';
import { createFederationFeature } from '../../src/federation';
import { createAdminFeature } from '../../src/http/admin';
import { createDoctor } from '../../src/doctor';
import { call, type Instance, startInstance } from './admin-fixtures';

/**
 * The published OpenAPI document and the router must describe the same API:
 * every documented operation is served, and every API route is documented.
 */

interface Layer {
  rawPath?: string | string[];
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
}

/** "METHOD /path" of every route below /api/admin, walking the Express router tree. */
function apiRoutesOf(router: Router): string[] {
  const out: string[] = [];
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const [m, on] of Object.entries(layer.route.methods))
          if (on && m !== '_all') out.push(`${m.toUpperCase()} ${prefix}${layer.route.path}`);
      } else if (layer.handle.stack) {
        const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
        walk(layer.handle.stack, prefix + mount);
      }
    }
  };
  walk((router as unknown as { stack: Layer[] }).stack, '');
  return out.filter((r) => r.split(' ')[1].startsWith('/api/admin')).sort();
}

type Operation = {
  parameters: { name: string; in: string }[];
  requestBody?: unknown;
  security?: unknown[];
  responses: Record<string, unknown>;
};

/** [status, code] for every error code an operation declares (the enum narrowing its error schema). */
function declaredCodes(op: Operation): [number, string][] {
  const out: [number, string][] = [];
  for (const [status, response] of Object.entries(op.responses)) {
    if (Number(status) < 400) continue;
    const r = response as {
      content: {
        'application/json': { schema: { allOf: { properties?: { error?: { enum: string[] } } }[] } };
      };
    };
    for (const part of r.content['application/json'].schema.allOf)
      for (const code of part.properties?.error?.enum ?? []) out.push([Number(status), code]);
  }
  return out;
}

let a: Instance;
let doc: {
  openapi: string;
  paths: Record<
    string,
    Record<
      string,
      {
        parameters: { name: string; in: string }[];
        requestBody?: unknown;
        security?: unknown[];
        responses: Record<string, unknown>;
      }
    >
  >;
};

beforeAll(async () => {
  a = await startInstance('openapi');
  const res = await call(a.adminUrl, 'GET', '/api/admin/openapi.json');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  doc = res.json as typeof doc;
});
afterAll(async () => {
  await a?.stop();
});

describe('OpenAPI document', () => {
  it('is OpenAPI 3.1 and documents the paths the issue names', () => {
    expect(doc.openapi).toBe('3.1.0');
    const ops = Object.entries(doc.paths).flatMap(([p, methods]) =>
      Object.keys(methods).map((m) => `${m.toUpperCase()} ${p}`),
    );
    for (const required of [
      'POST /api/admin/federation/outgoing-requests',
      'GET /api/admin/federation/outgoing-requests',
      'DELETE /api/admin/federation/outgoing-requests/{id}',
      'GET /api/admin/federation/incoming-requests',
      'POST /api/admin/federation/incoming-requests/{id}/accept',
      'POST /api/admin/federation/incoming-requests/{id}/decline',
      'GET /api/admin/federation/peers',
      'DELETE /api/admin/federation/peers/{id}',
      'POST /api/admin/federation/peers/{id}/test-call',
      'POST /api/admin/federation/foreign/{id}/refresh',
      'GET /api/admin/federation/policy',
      'PUT /api/admin/federation/policy',
      'GET /api/admin/federation/keys',
      'POST /api/admin/federation/keys/rotate',
      'POST /api/admin/reconcile',
      'GET /api/admin/federation/peers/{id}/phonebook',
      'GET /api/admin/federation/phonebook',
      'GET /api/admin/federation/outbox',
      'POST /api/admin/federation/outbox/retry',
    ]) {
      expect(ops).toContain(required);
    }
  });

  it('matches the router route for route', () => {
    const ctx = {
      config: a.app.config,
      db: a.app.db!,
      clock: a.app.clock,
      logger: a.app.logger,
      fetch: a.app.fetchImpl,
      metrics: a.app.metrics,
    };
    const asterisk = new DisabledAsteriskPort();
    const federation = createFederationFeature({
      ...ctx,
      asterisk,
      stores: typeormFederationStores(ctx.db, ctx.clock),
      openSideDatabase,
    });
    const doctor = createDoctor({
      ...ctx,
      federation: federation.admin,
      asterisk,
      partners: federation.partnerProbe,
    });
    const admin = createAdminFeature({
      ...ctx,
      federation: federation.admin,
      asterisk,
      doctor,
      stateGauges: new TypeormStateGauges(ctx.db),
      listeners: () => a.app.listeners(),
      // Only the routes are compared here; the config route itself is covered by cli-commands.test.ts.
      generatedAsteriskConfig: async () => ({
        enabled: false,
        backend: 'files' as const,
        files: [],
        refused: [],
      }),
    });
    const served = apiRoutesOf(admin.adminRouter!);
    const documented = Object.entries(doc.paths)
      .flatMap(([p, methods]) =>
        Object.keys(methods).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`),
      )
      .sort();
    expect(served.length).toBeGreaterThanOrEqual(15);
    expect(served).toEqual(documented);
  });

  it('declares every path parameter, strict request bodies, auth and error responses', () => {
    for (const [p, methods] of Object.entries(doc.paths)) {
      const inPath = [...p.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const [m, op] of Object.entries(methods)) {
        const declared = op.parameters.filter((x) => x.in === 'path').map((x) => x.name);
        expect(`${m} ${p}: ${declared.sort().join(',')}`).toBe(`${m} ${p}: ${inPath.sort().join(',')}`);
        if (m === 'post' || m === 'put') {
          const schema = (
            op.requestBody as { content: Record<string, { schema: { additionalProperties?: unknown } }> }
          ).content['application/json'].schema;
          expect(`${m} ${p} additionalProperties=${String(schema.additionalProperties)}`).toBe(
            `${m} ${p} additionalProperties=false`,
          );
        }
        expect(op.responses['400']).toBeDefined();
        if (p !== '/api/admin/openapi.json') {
          expect(op.security).toBeUndefined();
          expect(op.responses['401']).toBeDefined();
        }
      }
    }
  });

  it('lists per operation the error codes it can answer, each from the catalogue under its status', () => {
    for (const [p, methods] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(methods)) {
        const codes = declaredCodes(op);
        expect(codes.length).toBeGreaterThan(0);
        for (const [status, code] of codes) {
          expect(`${m} ${p} ${code}: ${isErrorCode(code)}`).toBe(`${m} ${p} ${code}: true`);
          if (isErrorCode(code))
            expect(`${m} ${p} ${code} ${status}`).toBe(`${m} ${p} ${code} ${ERROR_CATALOGUE[code].status}`);
        }
        const names = codes.map(([, c]) => c);
        expect(names).toEqual(expect.arrayContaining(['VALIDATION_FAILED', 'FED_TOO_LARGE', 'INTERNAL']));
        if (p !== '/api/admin/openapi.json')
          expect(names).toEqual(expect.arrayContaining(['AUTH_REQUIRED', 'CSRF_INVALID']));
      }
    }
    const accept = declaredCodes(doc.paths['/api/admin/federation/incoming-requests/{id}/accept'].post).map(
      ([, c]) => c,
    );
    expect(accept).toEqual(
      expect.arrayContaining(['FED_UNKNOWN_REQUEST', 'PREFIX_CONFLICT', 'FED_PARTNER_UNREACHABLE']),
    );
  });

  it('every documented operation is answered by a route (never the router-miss 404) and needs auth where documented', async () => {
    for (const [p, methods] of Object.entries(doc.paths)) {
      for (const m of Object.keys(methods)) {
        const url = p.replace(/\{(\w+)\}/g, 'no-such-id');
        const withAuth = await call(a.adminUrl, m.toUpperCase(), url, {
          token: a.token,
          body: m === 'post' || m === 'put' ? {} : undefined,
        });
        const answered = (withAuth.json as { error?: string } | null)?.error;
        expect(`${m} ${p} -> ${answered ?? withAuth.status}`).not.toMatch(/-> NOT_FOUND$/);
        // A refusal is one the operation declares, with the status the catalogue gives it.
        if (withAuth.status >= 400 && answered !== undefined) {
          const declared = declaredCodes(methods[m]).map(([status, c]) => `${c} ${status}`);
          expect(`${m} ${p} -> ${answered} ${withAuth.status}`).toBe(
            `${m} ${p} -> ${declared.find((d) => d.startsWith(`${answered} `)) ?? `${answered} (not declared)`}`,
          );
        }
        if (p === '/api/admin/openapi.json') continue;
        const without = await call(a.adminUrl, m.toUpperCase(), url, {
          body: m === 'post' || m === 'put' ? {} : undefined,
        });
        expect(`${m} ${p} -> ${without.status}`).toBe(`${m} ${p} -> 401`);
      }
    }
  });
});
