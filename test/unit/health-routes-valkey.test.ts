import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { type AsteriskConnectionStatus, DisabledAsteriskPort } from '../../src/core/asterisk-port';
import { type AppRuntime, healthRoutes } from '../../src/http/health-routes';

/** /readyz with the optional Valkey server of replicas (issue 16): reported, never a reason to be unready. */

const asteriskOff: AsteriskConnectionStatus = new DisabledAsteriskPort().status();

async function readyz(rt: AppRuntime): Promise<{ status: number; body: Record<string, unknown> }> {
  const app = express();
  app.use(healthRoutes(rt));
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/readyz`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

describe('/readyz and Valkey', () => {
  it('reports Valkey down and stays ready (every replica shares it; federation works without it)', async () => {
    const r = await readyz({
      databaseStatus: async () => 'up',
      asteriskStatus: () => asteriskOff,
      valkeyStatus: async () => 'down',
    });
    expect(r).toEqual({ status: 200, body: expect.objectContaining({ status: 'ready', valkey: 'down' }) });
  });

  it('names Valkey up beside a database that is down', async () => {
    const r = await readyz({
      databaseStatus: async () => 'down',
      asteriskStatus: () => asteriskOff,
      valkeyStatus: async () => 'up',
    });
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ not_ready: ['database'], valkey: 'up' });
  });

  it('has no valkey field without a Valkey server', async () => {
    const r = await readyz({
      databaseStatus: async () => 'up',
      asteriskStatus: () => asteriskOff,
      valkeyStatus: async () => null,
    });
    expect(r.body).not.toHaveProperty('valkey');
  });
});
