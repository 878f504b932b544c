import type { Router } from 'express';
import { DisabledAsteriskPort } from '../../src/core/asterisk-port';
import { createFederationFeature } from '../../src/federation';
import { createAdminFeature } from '../../src/http/admin';
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
    const federation = createFederationFeature({ ...ctx, asterisk });
    const admin = createAdminFeature({
      ...ctx,
      federation: federation.admin,
      asterisk,
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

  it('every documented operation is answered by a route (never the router-miss 404) and needs auth where documented', async () => {
    for (const [p, methods] of Object.entries(doc.paths)) {
      for (const m of Object.keys(methods)) {
        const url = p.replace(/\{(\w+)\}/g, 'no-such-id');
        const withAuth = await call(a.adminUrl, m.toUpperCase(), url, {
          token: a.token,
          body: m === 'post' || m === 'put' ? {} : undefined,
        });
        expect(
          `${m} ${p} -> ${(withAuth.json as { error?: string } | null)?.error ?? withAuth.status}`,
        ).not.toMatch(/-> NOT_FOUND$/);
        if (p === '/api/admin/openapi.json') continue;
        const without = await call(a.adminUrl, m.toUpperCase(), url, {
          body: m === 'post' || m === 'put' ? {} : undefined,
        });
        expect(`${m} ${p} -> ${without.status}`).toBe(`${m} ${p} -> 401`);
      }
    }
  });
});
