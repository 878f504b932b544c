/**
 * Odd path and query parameters on every parameterised route, over real
 * HTTP, against an instance on the harness MariaDB. That server's default
 * character set is latin1 (MariaDB's compiled default) and the instance's
 * database was created with a plain CREATE DATABASE, so it starts latin1 as
 * in many real installs. Before the fix a parameter latin1 cannot hold
 * reached a lookup and MariaDB refused the comparison ("Illegal mix of
 * collations"): 500.
 *
 * Asserted for each request: the surface's validation refusal, before any
 * lookup (v2 400 FED_MALFORMED, admin and panel 400 VALIDATION_FAILED, v1
 * 422 `{"detail"}` as µURU's FastAPI answers), never a 5xx; and afterwards
 * no row of any table changed.
 */
import crypto from 'node:crypto';
import { ManualClock } from '../harness/manual-clock';
import { createAdminUser } from '../../src/http/admin/admin-users';
import { ownTableNames } from '../../src/store/charset';
import { externalMariaDbFromEnv, type MariaDbServer, testDatabaseName } from '../harness/mariadb';
import {
  call,
  type HttpResult,
  type Instance,
  panelLogin,
  type PanelSession,
  startInstance,
} from './admin-fixtures';

/** Raw (already percent-encoded) parameter values, each odd in its own way. */
const ODD_VALUES: [label: string, raw: string][] = [
  ['CJK', encodeURIComponent('日本語')],
  ['latin1 letter', encodeURIComponent('Müller')],
  ['4-byte emoji', encodeURIComponent('peer😀')],
  ['very long', 'a'.repeat(5000)],
  ['NUL', 'ab%00cd'],
  ['newline', 'ab%0Acd'],
  ['invalid UTF-8', '%C3%28'],
  ['bare continuation bytes', '%FF%FE'],
  ['encoded slashes', '..%2F..%2Fetc'],
];

/** How each surface refuses a bad parameter; v1 answers only {"detail"}, as µURU's FastAPI does. */
const REFUSAL: Record<Attempt['surface'], { status: number; code: string }> = {
  v2: { status: 400, code: 'FED_MALFORMED' },
  v1: { status: 422, code: 'detail' },
  admin: { status: 400, code: 'VALIDATION_FAILED' },
  panel: { status: 400, code: 'VALIDATION_FAILED' },
};

const PASSWORD = 'a long enough password';
const V1_SECRET = 'S'.repeat(32);

interface Attempt {
  surface: 'v2' | 'v1' | 'admin' | 'panel';
  method: string;
  path: string;
  value: string;
}

interface Outcome extends Attempt {
  status: number;
  code: string | null;
}

/** The stable code of an answer: `error` (v2, admin, panel JSON), X-Error-Code (panel pages), or v1's detail. */
function codeOf(surface: Attempt['surface'], res: HttpResult): string | null {
  const json = res.json as { error?: unknown; detail?: unknown } | null;
  if (surface === 'v1') return typeof json?.detail === 'string' ? 'detail' : null;
  if (typeof json?.error === 'string') return json.error;
  return res.headers.get('x-error-code');
}

let server: MariaDbServer;
let dbName = '';
let a: Instance;
let panel: PanelSession;

beforeAll(async () => {
  const found = externalMariaDbFromEnv();
  if (!found)
    throw new Error('needs the harness MariaDB (UURU_TEST_MARIADB_*): run through the integration project');
  server = found;
  dbName = testDatabaseName('params');
  await server.createDatabase(dbName);
  a = await startInstance('params', {
    overrides: {
      database: {
        type: 'mariadb',
        host: server.host,
        port: server.port,
        user: server.user,
        password: server.password,
        database: dbName,
      },
      federation: { rateLimitPerIpPerMinute: 1_000_000, rateLimitPerOriginPerMinute: 1_000_000 },
      log: { level: 'warn', format: 'json' },
    },
  });
  await createAdminUser(a.app.db!, new ManualClock(Date.now()), { username: 'alice', password: PASSWORD });
  panel = await panelLogin(a, 'alice', PASSWORD);
}, 120_000);

afterAll(async () => {
  await a?.stop();
  if (dbName) await server?.dropDatabase(dbName);
  await server?.stop();
});

it('the harness server really defaults to latin1 (so this suite covers such servers)', async () => {
  const [row] = await server.query<{ cs: string }[]>('SELECT @@character_set_server AS cs');
  expect(row.cs).toBe('latin1');
});

/** Every admin route from the published OpenAPI document: path params substituted, query params filled. */
async function adminAttempts(): Promise<Attempt[]> {
  const doc = (await call(a.adminUrl, 'GET', '/api/admin/openapi.json')).json as {
    paths: Record<string, Record<string, { parameters?: { name: string; in: string }[] }>>;
  };
  const out: Attempt[] = [];
  for (const [p, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const params = op.parameters ?? [];
      const pathParams = params.filter((x) => x.in === 'path').map((x) => x.name);
      const queryParams = params.filter((x) => x.in === 'query').map((x) => x.name);
      const withPath = (v: string) => pathParams.reduce((acc, name) => acc.replace(`{${name}}`, v), p);
      for (const [, v] of ODD_VALUES) {
        if (pathParams.length) out.push({ surface: 'admin', method, path: withPath(v), value: v });
        // A well-formed path, the odd value in each declared query parameter and in an undeclared one.
        for (const q of [...queryParams, 'unknown_param'])
          out.push({ surface: 'admin', method, path: `${withPath('some-id')}?${q}=${v}`, value: v });
      }
    }
  }
  return out;
}

function federationAttempts(): Attempt[] {
  const out: Attempt[] = [];
  for (const [, v] of ODD_VALUES) {
    for (const [method, p] of [
      ['DELETE', `/federation/v2/peering-requests/${v}`],
      ['POST', `/federation/v2/peering-requests/${v}/accept`],
      ['POST', `/federation/v2/peering-requests/${v}/decline`],
      ['POST', `/federation/v2/peers/${v}/teardown`],
      ['GET', `/federation/v2/peerings/${v}`],
    ] as const)
      out.push({ surface: 'v2', method, path: p, value: v });
    for (const [method, p] of [
      ['DELETE', `/api/v1/federation/incoming/request/${v}?secret=${V1_SECRET}`],
      ['DELETE', `/api/v1/federation/incoming/request/${crypto.randomUUID()}?secret=${v}`],
      ['PUT', `/api/v1/federation/outgoing/request/${v}`],
    ] as const)
      out.push({ surface: 'v1', method, path: p, value: v });
  }
  return out;
}

function panelAttempts(): Attempt[] {
  const out: Attempt[] = [];
  for (const [, v] of ODD_VALUES) {
    out.push({ surface: 'panel', method: 'GET', path: `/panel/federation/peers/${v}/teardown`, value: v });
    for (const p of [
      `/panel/federation/outgoing-requests/${v}/revoke`,
      `/panel/federation/incoming-requests/${v}/accept`,
      `/panel/federation/incoming-requests/${v}/decline`,
      `/panel/federation/peers/${v}/teardown`,
      `/panel/federation/peers/${v}/test-call`,
      `/panel/keys/partners/${v}/refresh`,
    ])
      out.push({ surface: 'panel', method: 'POST', path: p, value: v });
  }
  return out;
}

async function send(t: Attempt): Promise<Outcome> {
  let res: HttpResult;
  if (t.surface === 'panel') {
    res =
      t.method === 'GET'
        ? await panel.get(t.path)
        : await panel.post(t.path, { _csrf: panel.csrf, prefix: '42' }, { accept: 'application/json' });
  } else if (t.surface === 'admin') {
    res = await call(a.adminUrl, t.method.toUpperCase(), t.path, {
      token: a.token,
      body: ['post', 'put'].includes(t.method) ? {} : undefined,
    });
  } else {
    const body =
      t.method === 'PUT' ? { accept: false, secret: V1_SECRET } : t.method === 'POST' ? {} : undefined;
    res = await call(a.federationUrl, t.method, t.path, { body });
  }
  return { ...t, status: res.status, code: codeOf(t.surface, res) };
}

async function rowCounts(): Promise<Record<string, number>> {
  const db = a.app.db!;
  const out: Record<string, number> = {};
  for (const t of ownTableNames(db)) {
    const [row] = (await db.query(`SELECT COUNT(*) AS n FROM \`${t}\``)) as { n: number | string }[];
    out[t] = Number(row.n);
  }
  return out;
}

it('answers every odd path and query parameter with a 4xx and a code, never a 5xx; nothing is written', async () => {
  const before = await rowCounts();
  expect(before.audit_events).toBeGreaterThan(0);
  const attempts = [...federationAttempts(), ...(await adminAttempts()), ...panelAttempts()];
  const outcomes: Outcome[] = [];
  for (const t of attempts) outcomes.push(await send(t));

  const surfaces = new Set(outcomes.map((o) => o.surface));
  expect([...surfaces].sort()).toEqual(['admin', 'panel', 'v1', 'v2']);
  // The validation refusal of each surface, so a request that got past validation to a lookup shows too.
  const bad = outcomes
    .filter((o) => o.status !== REFUSAL[o.surface].status || o.code !== REFUSAL[o.surface].code)
    .map((o) => `${o.status} ${o.code ?? '(no code)'} ${o.method.toUpperCase()} ${o.path.slice(0, 120)}`);
  expect(bad).toEqual([]);
  // Nothing is written but the audit trail, which records each refused admin action with its code.
  const after = await rowCounts();
  expect({ ...after, audit_events: 0 }).toEqual({ ...before, audit_events: 0 });
  const audited = (await a.app.db!.query(
    'SELECT outcome, errorCode AS code, COUNT(*) AS n FROM audit_events GROUP BY outcome, errorCode',
  )) as { outcome: string; code: string | null; n: number | string }[];
  expect(audited.map((r) => `${r.outcome} ${r.code ?? '-'}`).sort()).toEqual([
    'error VALIDATION_FAILED',
    'ok -',
  ]);
  expect(Number(audited.find((r) => r.outcome === 'ok')!.n)).toBe(before.audit_events);
  expect(a.logs()).not.toMatch(/Illegal mix of collations|unhandled error/);
}, 300_000);
