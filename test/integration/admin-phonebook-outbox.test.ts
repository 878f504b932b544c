import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { systemClock } from '../../src/core/clock';
import { createAdminUser } from '../../src/http/admin/admin-users';
import { OutboxEntity, PeerEntity } from '../../src/store/entities';

import {
  adminApi,
  call,
  type HttpResult,
  type Instance,
  type PanelSession,
  panelLogin,
  responseSchemaErrors,
  startInstance,
} from './admin-fixtures';
import { cli } from './cli-fixtures';
import { waitUntil } from '../harness/wait';

/**
 * Partners' phonebooks and the outbox through every admin surface (API,
 * panel, CLI) against three real instances over HTTP: A peers with B in
 * uuru-fed/2 (B publishes a phonebook file, one name in it hostile HTML) and
 * with C in legacy v1. C then goes down: its phonebook shows an error on A
 * while B's entries stay, and A's teardown notification to C waits in the
 * outbox until C is back and an admin says "retry now".
 */

const PASSWORD = 'phonebook outbox password';
const HOSTILE = '<img src=x onerror=alert(1)>';
let tmp: string;
let a: Instance;
let b: Instance;
let c: Instance;
let apiA: ReturnType<typeof adminApi>;
let sa: PanelSession;
let doc: Record<string, unknown>;
const peerIds = { b: '', c: '' };

function documented(res: HttpResult, method: string, docPath: string, status: number): HttpResult {
  if (res.status !== status)
    throw new Error(`${method} ${docPath}: expected ${status}, got ${res.status} ${res.text}`);
  expect(responseSchemaErrors(doc, method, `/api/admin${docPath}`, status, res.json)).toEqual([]);
  return res;
}

async function peerWith(partner: Instance, name: string, prefix: string, dialect: 'v2' | 'v1') {
  const created = await apiA('POST', '/federation/outgoing-requests', {
    name,
    partner_url: partner.federationUrl,
    prefix,
    codec: 'alaw',
    dialect,
  });
  expect(created.status).toBe(201);
  const incoming = await waitUntil(
    async () => {
      const res = await adminApi(partner)('GET', '/federation/incoming-requests');
      return (res.json as { requests: { id: string; name: string }[] }).requests.find((r) => r.name === name);
    },
    { what: `${partner.name} sees ${name}` },
  );
  const accepted = await adminApi(partner)('POST', `/federation/incoming-requests/${incoming.id}/accept`, {
    prefix: '90',
  });
  expect(accepted.status).toBe(200);
  return waitUntil(
    async () => {
      const res = await apiA('GET', '/federation/peers');
      return (res.json as { peers: { id: string; name: string }[] }).peers.find((p) => p.name === name)?.id;
    },
    { what: `A has peer ${name}` },
  );
}

const cliEnv = () => ({ UURU_ADMIN_URL: a.adminUrl, UURU_ADMIN_TOKEN: a.token });

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-admin-phonebook-'));
  const book = path.join(tmp, 'b-phonebook.json');
  fs.writeFileSync(
    book,
    JSON.stringify([
      { extension: '2001', name: 'Kitchen' },
      { extension: '2002', name: HOSTILE },
      { extension: '2003', name: 'Hidden', public: false },
    ]),
  );
  [a, b, c] = await Promise.all([
    startInstance('pbo-a'),
    startInstance('pbo-b', { overrides: { phonebook: { file: book, partnerCacheSeconds: 10 } } }),
    startInstance('pbo-c'),
  ]);
  apiA = adminApi(a);
  doc = (await call(a.adminUrl, 'GET', '/api/admin/openapi.json')).json as Record<string, unknown>;
  await createAdminUser(a.app.db!, systemClock, { username: 'admin', password: PASSWORD });
  sa = await panelLogin(a, 'admin', PASSWORD);
  peerIds.b = await peerWith(b, 'tob', '71', 'v2');
  peerIds.c = await peerWith(c, 'toc', '72', 'v1');
}, 120_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('partner phonebooks', () => {
  it("API: one partner's phonebook with our prefix in front, cached or refreshed; strict query", async () => {
    const one = documented(
      await apiA('GET', `/federation/peers/${peerIds.b}/phonebook`),
      'GET',
      '/federation/peers/{id}/phonebook',
      200,
    );
    expect(one.json).toMatchObject({
      peer: { id: peerIds.b, name: 'tob', prefix: '71', dialect: 'v2' },
      entries: [
        { dial: '712001', extension: '2001', name: 'Kitchen' },
        { dial: '712002', extension: '2002', name: HOSTILE },
      ],
      error: null,
    });
    const fetchedAt = (one.json as { fetched_at: string }).fetched_at;
    const cached = await apiA('GET', `/federation/peers/${peerIds.b}/phonebook`);
    expect((cached.json as { fetched_at: string }).fetched_at).toBe(fetchedAt);
    await new Promise((r) => setTimeout(r, 5));
    const refreshed = documented(
      await apiA('GET', `/federation/peers/${peerIds.b}/phonebook?refresh=true`),
      'GET',
      '/federation/peers/{id}/phonebook',
      200,
    );
    expect((refreshed.json as { fetched_at: string }).fetched_at > fetchedAt).toBe(true);

    const badFlag = await apiA('GET', `/federation/peers/${peerIds.b}/phonebook?refresh=yes`);
    documented(badFlag, 'GET', '/federation/peers/{id}/phonebook', 400);
    expect((badFlag.json as { message: string }).message).toContain('query.refresh');
    const unknownParam = await apiA('GET', '/federation/phonebook?peer=tob');
    expect(unknownParam.status).toBe(400);
    expect((unknownParam.json as { message: string }).message).toContain('unknown field(s): peer');
    const unknownPeer = await apiA('GET', '/federation/peers/nope/phonebook');
    documented(unknownPeer, 'GET', '/federation/peers/{id}/phonebook', 404);
    expect(unknownPeer.json).toMatchObject({ error: 'FED_UNKNOWN_PEER' });
  });

  it('API: every partner, the v1 one (C has no directory) with no entries and no error', async () => {
    const all = documented(
      await apiA('GET', '/federation/phonebook?refresh=true'),
      'GET',
      '/federation/phonebook',
      200,
    );
    const books = (
      all.json as { phonebooks: { peer: { name: string }; entries: unknown[]; error: unknown }[] }
    ).phonebooks;
    expect(books.map((p) => p.peer.name)).toEqual(['tob', 'toc']);
    expect(books[0].entries).toHaveLength(2);
    expect(books[1]).toMatchObject({ entries: [], error: null });
  });

  it('CLI: phonebook as a table, for one peer by name, and as JSON', async () => {
    const table = await cli(['phonebook'], cliEnv());
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^DIAL\s+NAME\s+PARTNER\s+EXTENSION$/);
    expect(table.stdout).toMatch(/^712001\s+Kitchen\s+tob\s+2001$/m);
    const one = await cli(['phonebook', '--peer', 'tob', '--refresh', '--json'], cliEnv());
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({ peer: { name: 'tob' }, error: null });
    const unknown = await cli(['phonebook', '--peer', 'nobody'], cliEnv());
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('FED_UNKNOWN_PEER');
  });

  it('panel: the Phonebook page lists number to dial, name and partner, escaped', async () => {
    const page = await sa.get('/panel/phonebook');
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/href="\/panel\/phonebook"\s+aria-current="page"/);
    expect(page.text).toMatch(/<tr data-dial="712001">[\s\S]*?712001[\s\S]*?Kitchen[\s\S]*?tob/);
    expect(page.text).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(page.text).not.toContain(HOSTILE);
    expect(page.text).not.toContain('Hidden');
    expect(page.text).not.toContain('data-phonebook-error');
  });

  it("a partner that is down: its error is shown (API, panel, CLI exit 1) and the other partner's entries stay", async () => {
    await c.halt();
    const all = await apiA('GET', '/federation/phonebook?refresh=true');
    expect(all.status).toBe(200);
    const books = (
      all.json as { phonebooks: { peer: { name: string }; entries: unknown[]; error: string }[] }
    ).phonebooks;
    expect(books[0]).toMatchObject({ peer: { name: 'tob' }, error: null });
    expect(books[0].entries).toHaveLength(2);
    expect(books[1].peer.name).toBe('toc');
    expect(books[1].error).toMatch(/could not be read/);

    const page = await sa.get('/panel/phonebook');
    expect(page.text).toMatch(/data-phonebook-error="toc"[\s\S]*?could not be read/);
    expect(page.text).toContain('data-dial="712001"');

    const r = await cli(['phonebook'], cliEnv());
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^712001\s+Kitchen/m);
    expect(r.stderr).toMatch(/partner 'toc': .*could not be read/);
  });
});

describe('outbox', () => {
  it('a teardown to the downed partner waits; the API lists it without body or secret', async () => {
    const secret = (await a.app.db!.getRepository(PeerEntity).findOneByOrFail({ name: 'toc' })).secret;
    const res = await apiA('DELETE', `/federation/peers/${peerIds.c}`);
    expect(res.status).toBe(204);
    const listed = await waitUntil(
      async () => {
        const r = documented(await apiA('GET', '/federation/outbox'), 'GET', '/federation/outbox', 200);
        const d = (r.json as { deliveries: { kind: string; attempts: number; last_error: string | null }[] })
          .deliveries;
        return d.length === 1 && d[0].attempts > 0 && d[0].last_error ? r : undefined;
      },
      { what: 'the teardown was tried at least once' },
    );
    const [d] = (listed.json as { deliveries: Record<string, unknown>[] }).deliveries;
    expect(d).toMatchObject({
      kind: 'teardown',
      dialect: 'v1',
      partner: new URL(c.federationUrl).host,
      peer_name: 'toc',
      state: 'pending',
    });
    expect(d.next_attempt_at).toEqual(expect.any(String));
    expect(d.last_error).toMatch(/unreachable/);
    expect(Object.keys(d)).not.toContain('body');
    expect(Object.keys(d)).not.toContain('url');
    // The stored notification does carry the v1 secret: the listing must not.
    const stored = await a.app.db!.getRepository(OutboxEntity).findOneByOrFail({ kind: 'teardown' });
    expect(JSON.stringify(stored.body) + stored.url).toContain(secret);
    expect(listed.text).not.toContain(secret);

    const onlyFailed = documented(
      await apiA('GET', '/federation/outbox?state=failed'),
      'GET',
      '/federation/outbox',
      200,
    );
    expect(onlyFailed.json).toEqual({ deliveries: [] });
    expect((await apiA('GET', '/federation/outbox?state=done')).status).toBe(400);
    expect((await apiA('GET', '/federation/outbox?limit=1')).status).toBe(400);
    const cliList = await cli(['outbox', 'list'], cliEnv());
    expect(cliList.code).toBe(0);
    expect(cliList.stdout).toMatch(/^teardown\s+127\.0\.0\.1:\d+\s+toc\s+pending\s+\d+/m);
    expect(cliList.stdout).not.toContain(secret);
  });

  it('the panel shows the waiting notification with a retry button; retrying while C is down keeps it', async () => {
    const page = await sa.get('/panel/federation');
    expect(page.text).toMatch(/data-delivery="teardown" data-delivery-state="pending"/);
    expect(page.text).toContain('action="/panel/federation/outbox/retry"');
    const res = await sa.post('/panel/federation/outbox/retry', { _csrf: sa.csrf });
    expect(res.status).toBe(303);
    const after = await sa.get('/panel/federation');
    expect(after.text).toMatch(
      /class="flash error"[\s\S]*?Tried 1 notification\(s\): 0 delivered\. 1 still waiting/,
    );
    const noCsrf = await sa.post('/panel/federation/outbox/retry', {});
    expect(noCsrf.status).toBe(403);

    const viaApi = documented(
      await apiA('POST', '/federation/outbox/retry', {}),
      'POST',
      '/federation/outbox/retry',
      200,
    );
    expect(viaApi.json).toEqual({ attempted: 1, delivered: 0, pending: 1 });
    expect((await apiA('POST', '/federation/outbox/retry', { now: true })).status).toBe(400);
    const viaCli = await cli(['outbox', 'retry'], cliEnv());
    expect(viaCli.code).toBe(1);
    expect(viaCli.stdout).toBe('tried 1, delivered 0, 1 still waiting\n');
  });

  it('once C is back, "retry now" delivers it: C forgets the peer and the outbox is empty', async () => {
    await c.resume();
    expect((await adminApi(c)('GET', '/federation/peers')).json).toMatchObject({ peers: [{ name: 'toc' }] });
    const r = await cli(['outbox', 'retry', '--json'], cliEnv());
    // The worker's own pass may have delivered it first; either way nothing is left.
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ pending: 0 });
    expect((await apiA('GET', '/federation/outbox')).json).toEqual({ deliveries: [] });
    await waitUntil(
      async () =>
        ((await adminApi(c)('GET', '/federation/peers')).json as { peers: unknown[] }).peers.length === 0,
      { what: 'C dropped the peer' },
    );
    const page = await sa.get('/panel/federation');
    expect(page.text).toContain('Nothing waiting: every notification reached its partner.');
    expect(page.text).not.toContain('action="/panel/federation/outbox/retry"');
  });
});
