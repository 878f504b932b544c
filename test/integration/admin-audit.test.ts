import { createAdminUser } from '../../src/http/admin/admin-users';
import { createApiToken } from '../../src/http/admin/api-tokens';
import { systemClock } from '../../src/core/clock';
import type { AuditEventView } from '../../src/http/admin/audit-trail';
import { AuditEventEntity } from '../../src/store/entities';
import { type MariaDbServer, startMariaDb, testDatabaseName } from '../harness/mariadb';
import {
  adminApi,
  type Instance,
  type PanelSession,
  panelLogin,
  startInstance,
  tryLogin,
} from './admin-fixtures';
import { cli } from './cli-fixtures';

/**
 * The audit trail over real HTTP on SQLite and on MariaDB: admin API actions
 * with a token, panel actions with a session, panel sign-ins and the CLI
 * (through the admin API) each leave one row with who, what and the outcome,
 * failures with their error code; reads and refused credentials leave none;
 * no token, password or typed secret ends up in a row. GET /api/admin/audit
 * and the panel's Audit page page through it newest first.
 */

const PASSWORD = 'audit test password';
/** Typed into the username field by mistake: must never be stored. */
const MISTYPED_SECRET = 'my-Secret-passw0rd!';

type EventRow = AuditEventView;

type Dialect = 'sqlite' | 'mariadb';

describe.each<Dialect>(['sqlite', 'mariadb'])('audit trail on %s', (dialect) => {
  let server: MariaDbServer | null = null;
  let dbName = '';
  let a: Instance;
  let token: string;
  let session: PanelSession;

  beforeAll(async () => {
    let overrides: Record<string, unknown> = {};
    if (dialect === 'mariadb') {
      server = await startMariaDb();
      dbName = testDatabaseName('audit');
      await server.createDatabase(dbName);
      overrides = {
        database: {
          type: 'mariadb',
          host: server.host,
          port: server.port,
          user: server.user,
          password: server.password,
          database: dbName,
        },
      };
    }
    a = await startInstance(`audit-${dialect}`, { overrides });
    await createAdminUser(a.app.db!, systemClock, { username: 'alice', password: PASSWORD });
    token = (await createApiToken(a.app.db!, systemClock, 'ci-script')).token;
  }, 120_000);

  afterAll(async () => {
    await a?.stop();
    if (server && dbName) await server.dropDatabase(dbName);
    await server?.stop();
  });

  const api = () => adminApi(a);

  /** Every event, newest first, through the API (the bootstrap token may read). */
  async function events(): Promise<EventRow[]> {
    const res = await api()('GET', '/audit?limit=200');
    expect(res.status).toBe(200);
    return (res.json as { events: EventRow[] }).events;
  }

  /** The events added while `act` ran, oldest first. */
  async function added(act: () => Promise<void>): Promise<EventRow[]> {
    const before = (await events())[0]?.id ?? 0;
    await act();
    return (await events()).filter((e) => e.id > before).reverse();
  }

  const pick = (e: EventRow) => ({
    actor: e.actor,
    actor_kind: e.actor_kind,
    via: e.via,
    action: e.action,
    target: e.target,
    outcome: e.outcome,
    error_code: e.error_code,
  });

  it('records admin API actions with the token name, outcome and error code; reads and bad credentials leave nothing', async () => {
    const rows = await added(async () => {
      const policy = await api()('GET', '/federation/policy', undefined, token);
      expect(policy.status).toBe(200);
      expect((await api()('PUT', '/federation/policy', policy.json, token)).status).toBe(200);
      const gone = await api()('DELETE', '/federation/peers/no-such-peer', undefined, token);
      expect(gone.status).toBe(404);
      const bad = await api()(
        'POST',
        '/federation/outgoing-requests',
        { name: 'lisbon', partner_url: 'ftp://nowhere', prefix: '12', codec: 'alaw' },
        token,
      );
      expect(bad.status).toBe(400);
      // Refused credentials: nobody to name, nothing recorded.
      expect((await api()('POST', '/federation/keys/rotate', {}, 'uuf_not-a-token')).status).toBe(401);
      expect((await api()('GET', '/federation/peers', undefined, token)).status).toBe(200);
    });
    expect(rows.map(pick)).toEqual([
      {
        actor: 'ci-script',
        actor_kind: 'token',
        via: 'api',
        action: 'policy.set',
        target: null,
        outcome: 'ok',
        error_code: null,
      },
      {
        actor: 'ci-script',
        actor_kind: 'token',
        via: 'api',
        action: 'peer.teardown',
        target: 'no-such-peer',
        outcome: 'error',
        error_code: 'FED_UNKNOWN_PEER',
      },
      {
        actor: 'ci-script',
        actor_kind: 'token',
        via: 'api',
        action: 'request.create',
        target: 'lisbon',
        outcome: 'error',
        error_code: 'VALIDATION_FAILED',
      },
    ]);
    for (const r of rows) expect(Math.abs(Date.parse(r.at) - Date.now())).toBeLessThan(60_000);
  });

  it('records panel sign-ins, actions and sign-outs under the admin; a failed sign-in never stores what was typed', async () => {
    const rows = await added(async () => {
      expect((await tryLogin(a, 'alice', 'wrong password')).status).toBe(401);
      expect((await tryLogin(a, MISTYPED_SECRET, PASSWORD)).status).toBe(401);
      session = await panelLogin(a, 'alice', PASSWORD);
      const keys = await session.post('/panel/keys/rotate', { _csrf: session.csrf });
      expect(keys.status).toBe(303);
      const teardown = await session.post('/panel/federation/peers/nobody/teardown', { _csrf: session.csrf });
      expect(teardown.status).toBe(303);
      // A post without the CSRF token is refused before it is an action.
      expect((await session.post('/panel/keys/rotate', {})).status).toBe(403);
      expect((await session.post('/panel/logout', { _csrf: session.csrf })).status).toBe(303);
    });
    const panel = (action: string, target: string | null, error_code: string | null) => ({
      actor: 'alice',
      actor_kind: 'admin',
      via: 'panel',
      action,
      target,
      outcome: error_code ? 'error' : 'ok',
      error_code,
    });
    expect(rows.map(pick)).toEqual([
      panel('session.login', null, 'AUTH_INVALID'),
      { ...panel('session.login', null, 'AUTH_INVALID'), actor: '(unknown account)' },
      panel('session.login', null, null),
      panel('keys.rotate', null, null),
      panel('peer.teardown', 'nobody', 'FED_UNKNOWN_PEER'),
      panel('session.logout', null, null),
    ]);
  });

  it('records CLI commands, which go through the admin API, under their token', async () => {
    const cliToken = (await createApiToken(a.app.db!, systemClock, 'laptop cli')).token;
    const rows = await added(async () => {
      const run = await cli(['key', 'rotate'], { UURU_ADMIN_URL: a.adminUrl, UURU_ADMIN_TOKEN: cliToken });
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
    });
    expect(rows.map(pick)).toEqual([
      {
        actor: 'laptop cli',
        actor_kind: 'token',
        via: 'api',
        action: 'keys.rotate',
        target: null,
        outcome: 'ok',
        error_code: null,
      },
    ]);
  }, 90_000);

  it('stores no token, password or mistyped secret in any row', async () => {
    const stored = JSON.stringify(await a.app.db!.getRepository(AuditEventEntity).find());
    expect(stored).toContain('ci-script');
    for (const secret of [token, a.token, PASSWORD, MISTYPED_SECRET, 'wrong password']) {
      expect(stored).not.toContain(secret);
    }
  });

  it('pages newest first with limit and cursor, in the API and on the panel', async () => {
    const all = await events();
    expect(all.length).toBeGreaterThanOrEqual(10);
    const ids = all.map((e) => e.id);
    expect([...ids].sort((x, y) => y - x)).toEqual(ids);

    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await api()('GET', `/audit?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      const body = res.json as { events: EventRow[]; next_cursor: string | null };
      expect(body.events.length).toBeLessThanOrEqual(3);
      seen.push(...body.events.map((e) => e.id));
      cursor = body.next_cursor;
      pages++;
    } while (cursor !== null && pages < 100);
    expect(seen).toEqual(ids);

    for (const q of ['limit=0', 'limit=201', 'limit=ten', 'cursor=abc', 'since=1']) {
      const res = await api()('GET', `/audit?${q}`);
      expect({ q, status: res.status, code: (res.json as { error?: string }).error }).toEqual({
        q,
        status: 400,
        code: 'VALIDATION_FAILED',
      });
    }

    const s = await panelLogin(a, 'alice', PASSWORD);
    const first = await s.get('/panel/audit?limit=2');
    expect(first.status).toBe(200);
    const shown = [...first.text.matchAll(/data-audit="(\d+)"/g)].map((m) => Number(m[1]));
    // The sign-in just made is the newest event.
    expect(shown).toHaveLength(2);
    expect(shown[0]).toBeGreaterThan(ids[0]);
    expect(shown[1]).toBe(ids[0]);
    // "Older" keeps the page size.
    const older = /href="\/panel\/audit\?cursor=(\d+)&amp;limit=2"/.exec(first.text);
    expect(older?.[1]).toBe(String(ids[0]));
    const second = await s.get(`/panel/audit?cursor=${older![1]}&limit=2`);
    expect([...second.text.matchAll(/data-audit="(\d+)"/g)].map((m) => Number(m[1]))).toEqual(
      ids.slice(1, 3),
    );
    expect((await s.get('/panel/audit?cursor=x')).status).toBe(400);
  });
});
