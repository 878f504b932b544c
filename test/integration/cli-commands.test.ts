import { destroyAll, type Sidecar, startSidecar } from '../harness/sidecar';
import { eventually } from '../harness/wait';
import { tryLogin, type Instance } from './admin-fixtures';
import { cli, type Run } from './cli-fixtures';

/**
 * The real `uuru-fed` CLI as a child process against two real sidecar
 * processes: A on MariaDB, B on SQLite. `admin create` and `token create`
 * write the sidecar's database directly; everything else goes through the
 * running instance's admin API. Exit codes: 0 ok, 1 refused/failed, 2 usage.
 */

let a: Sidecar;
let b: Sidecar;

function dbEnv(s: Sidecar): Record<string, string> {
  if (s.mariaDbName) {
    return {
      UURU_DATABASE_TYPE: 'mariadb',
      UURU_DATABASE_SERVER: process.env.UURU_TEST_MARIADB_HOST ?? '',
      UURU_DATABASE_PORT: process.env.UURU_TEST_MARIADB_PORT ?? '3306',
      UURU_DATABASE_USER: process.env.UURU_TEST_MARIADB_USER ?? '',
      UURU_DATABASE_PASSWORD: process.env.UURU_TEST_MARIADB_PASSWORD ?? '',
      UURU_DATABASE_DB: s.mariaDbName,
    };
  }
  return { UURU_DATA_DIR: s.dataDir };
}

/** Polling between CLI steps goes over HTTP directly: quicker than a process per poll. */
async function requestsOf(
  s: Sidecar,
  which: 'incoming' | 'outgoing',
): Promise<{ id: string; name: string; state: string }[]> {
  const res = await s.admin('GET', `/federation/${which}-requests`);
  return (res.json as { requests: { id: string; name: string; state: string }[] }).requests;
}

const apiEnv = (s: Sidecar, token = s.token) => ({ UURU_ADMIN_URL: s.adminUrl, UURU_ADMIN_TOKEN: token });
const json = <T>(r: Run): T => {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
};

beforeAll(async () => {
  [a, b] = await Promise.all([
    startSidecar({ name: 'cli-a', db: 'mariadb' }),
    startSidecar({ name: 'cli-b' }),
  ]);
}, 120_000);
afterAll(async () => {
  await destroyAll([a, b]);
});

describe('usage', () => {
  it('prints help everywhere with exit 0, and exits 2 on bad usage', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Exit codes:');
    for (const cmd of [
      'admin',
      'token',
      'key',
      'peers',
      'peer',
      'requests',
      'policy',
      'reconcile',
      'test-call',
      'phonebook',
      'outbox',
    ]) {
      expect(help.stdout).toContain(cmd);
    }
    const sub = await cli(['requests', 'create', '--help']);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toContain('--partner-url');
    expect((await cli(['frobnicate'])).code).toBe(2);
    const missing = await cli(['requests', 'create', '--name', 'x'], apiEnv(a));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('required option');
    const codec = await cli(
      [
        'requests',
        'create',
        '--name',
        'x',
        '--partner-url',
        b.federationUrl,
        '--prefix',
        '1',
        '--codec',
        'opus',
      ],
      apiEnv(a),
    );
    expect(codec.code).toBe(2);
    expect(codec.stderr).toMatch(/Allowed choices are g722, alaw/);
  });

  it('exits 2 without a token and on an invalid configuration, 1 when the instance is unreachable or refuses', async () => {
    const noToken = await cli(['peers', 'list'], { UURU_ADMIN_URL: a.adminUrl });
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain('no API token');
    const badConfig = await cli(['peers', 'list'], { ...apiEnv(a), UURU_DATABASE_PORT: 'many' });
    expect(badConfig.code).toBe(2);
    expect(badConfig.stderr).toContain('UURU_DATABASE_PORT');
    const unreachable = await cli(['peers', 'list'], {
      UURU_ADMIN_URL: 'http://127.0.0.1:9',
      UURU_ADMIN_TOKEN: 'x',
    });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain('cannot reach the admin API');
    const badToken = await cli(['peers', 'list'], apiEnv(a, 'uuf_wrong'));
    expect(badToken.code).toBe(1);
    expect(badToken.stderr).toContain('AUTH_INVALID');
  });
});

describe('database commands', () => {
  it('admin create makes a panel account (password from stdin); refuses duplicates and short passwords', async () => {
    const created = await cli(['admin', 'create', 'alice'], dbEnv(a), 'a fine long password\n');
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout).toBe("admin 'alice' created\n");
    const again = await cli(['admin', 'create', 'alice'], dbEnv(a), 'another long password\n');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('ADMIN_EXISTS');
    const short = await cli(['admin', 'create', 'bob'], dbEnv(a), 'short\n');
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('PASSWORD_TOO_SHORT');
    const replaced = await cli(
      ['admin', 'create', 'alice', '--replace', '--json'],
      dbEnv(a),
      'the replaced password\n',
    );
    expect(json<{ username: string; created: boolean }>(replaced)).toMatchObject({
      username: 'alice',
      created: false,
    });
    // the running sidecar accepts the account at once
    const asInstance = { adminUrl: a.adminUrl } as Instance;
    expect((await tryLogin(asInstance, 'alice', 'the replaced password')).status).toBe(303);
    expect((await tryLogin(asInstance, 'alice', 'a fine long password')).status).toBe(401);
    const rows = await a.query<{ passwordHash: string }>('SELECT passwordHash FROM {db}.admin_users');
    expect(rows[0].passwordHash).toMatch(/^scrypt\$/);
  });

  it('token create prints a token once, stores its hash, and the running instance accepts it', async () => {
    const created = await cli(['token', 'create', 'ci'], dbEnv(b));
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^uuf_[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toContain('not shown again');
    const rows = await b.query<{ tokenHash: string; name: string }>(
      'SELECT name, tokenHash FROM {db}.api_tokens',
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].tokenHash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(rows)).not.toContain(token);
    const list = await cli(['peers', 'list', '--json'], apiEnv(b, token));
    expect(json<{ peers: unknown[] }>(list)).toEqual({ peers: [] });
    const viaFlags = await cli(['--url', b.adminUrl, '--token', token, 'key', 'show', '--json']);
    expect(json<{ keys: unknown[] }>(viaFlags).keys.length).toBeGreaterThan(0);
  });
});

describe('API commands', () => {
  let incomingId = '';

  it('key show / rotate', async () => {
    const shown = await cli(['key', 'show'], apiEnv(a));
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^KID\s+ALG\s+STATUS\s+FINGERPRINT/);
    expect(shown.stdout).toContain('ed25519');
    const before = json<{ keys: { kid: string }[] }>(await cli(['key', 'show', '--json'], apiEnv(a)));
    const rotated = json<{ keys: { kid: string }[] }>(await cli(['key', 'rotate', '--json'], apiEnv(a)));
    expect(rotated.keys.length).toBeGreaterThan(before.keys.length);
  });

  it('requests create / list on A, list / accept on B, then peers list on both', async () => {
    const created = await cli(
      [
        'requests',
        'create',
        '--name',
        'clipeer',
        '--partner-url',
        b.federationUrl,
        '--prefix',
        '51',
        '--codec',
        'alaw',
        '--json',
      ],
      apiEnv(a),
    );
    const req = json<{ id: string; state: string; dialect: string }>(created);
    expect(req).toMatchObject({ state: 'pending', dialect: 'v2' });
    const listed = await cli(['requests', 'list'], apiEnv(a));
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/Outgoing:\nID\s+NAME[\s\S]*clipeer[\s\S]*Incoming:/);
    await eventually(
      'B has clipeer',
      async () => requestsOf(b, 'incoming').then((r) => r.some((x) => x.name === 'clipeer')),
      30_000,
      200,
    );
    const incoming = json<{ incoming: { id: string; name: string }[] }>(
      await cli(['requests', 'list', '--json'], apiEnv(b)),
    );
    incomingId = incoming.incoming.find((x) => x.name === 'clipeer')!.id;
    const refused = await cli(['requests', 'accept', 'no-such-request', '--prefix', '52'], apiEnv(b));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/uuru-fed: [A-Z_]+: /);
    const accepted = await cli(['requests', 'accept', incomingId, '--prefix', '52'], apiEnv(b));
    expect(accepted.code).toBe(0);
    expect(accepted.stdout).toContain("accepted: peer 'clipeer'");
    await eventually(
      'A has clipeer',
      async () =>
        ((await a.admin('GET', '/federation/peers')).json as { peers: unknown[] }).peers.length === 1,
      30_000,
      200,
    );
    const peersA = json<{ peers: { name: string; prefix: string; dialect: string }[] }>(
      await cli(['peers', 'list', '--json'], apiEnv(a)),
    ).peers.find((p) => p.name === 'clipeer');
    expect(peersA).toMatchObject({ prefix: '51', dialect: 'v2' });
    const table = await cli(['peers', 'list'], apiEnv(b));
    expect(table.stdout).toMatch(/^ID\s+NAME\s+PREFIX/);
    expect(table.stdout).toMatch(/LAST SEEN\s+LINK ERROR\s+PARTNER ERROR\n/);
    expect(table.stdout).toMatch(/clipeer\s+52\s+/);
  });

  it('test-call exits 1 when the call is not answered (Asterisk is off in these sidecars), with the reason', async () => {
    const r = await cli(['test-call', 'clipeer'], apiEnv(a));
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('not answered: Asterisk integration is disabled');
    const j = await cli(['test-call', 'clipeer', '--json'], apiEnv(a));
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout)).toMatchObject({ peer: 'clipeer', answered: false });
  });

  it('policy show / set', async () => {
    const shown = await cli(['policy', 'show'], apiEnv(a));
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/mode:\s+open/);
    const set = await cli(
      [
        'policy',
        'set',
        '--mode',
        'invite_only',
        '--allowed',
        'x.example, y.example:8443',
        '--legacy',
        'off',
        '--unfederated',
        '110,112,9*',
        '--json',
      ],
      apiEnv(a),
    );
    expect(json<{ policy: unknown }>(set).policy).toEqual({
      mode: 'invite_only',
      allowed_peers: ['x.example', 'y.example:8443'],
      blocked_peers: [],
      allow_legacy: false,
      unfederated_numbers: ['110', '112', '9*'],
    });
    const partial = await cli(['policy', 'set', '--mode', 'open'], apiEnv(a));
    expect(partial.code).toBe(0);
    expect(
      json<{ mode: string; allowed_peers: string[] }>(await cli(['policy', 'show', '--json'], apiEnv(a))),
    ).toMatchObject({
      mode: 'open',
      allowed_peers: ['x.example', 'y.example:8443'],
    });
    expect((await cli(['policy', 'set', '--mode', 'bogus'], apiEnv(a))).code).toBe(2);
    const invalid = await cli(['policy', 'set', '--unfederated', '11x'], apiEnv(a));
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('VALIDATION_FAILED');
  });

  it('reconcile on an instance without Asterisk says there is nothing to do (exit 0); --json gives the report', async () => {
    const r = await cli(['reconcile'], apiEnv(a));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      'Asterisk integration is disabled in this instance: there is nothing to reconcile\n',
    );
    const j = json<{ ok: boolean; result: string; changes: unknown[] }>(
      await cli(['reconcile', '--json'], apiEnv(a)),
    );
    expect(j).toMatchObject({ ok: false, result: 'disabled', changes: [] });
  });

  it('peer teardown by name; unknown peers exit 1', async () => {
    const r = await cli(['peer', 'teardown', 'clipeer'], apiEnv(a));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("peer 'clipeer' torn down\n");
    const gone = await cli(['peer', 'teardown', 'clipeer'], apiEnv(a));
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('FED_UNKNOWN_PEER');
    await eventually(
      'B dropped clipeer',
      async () =>
        ((await b.admin('GET', '/federation/peers')).json as { peers: unknown[] }).peers.length === 0,
      30_000,
      200,
    );
  });

  it('requests decline (B) and revoke (A)', async () => {
    const created = json<{ id: string }>(
      await cli(
        [
          'requests',
          'create',
          '--name',
          'cli2',
          '--partner-url',
          b.federationUrl,
          '--prefix',
          '53',
          '--codec',
          'ulaw',
          '--json',
        ],
        apiEnv(a),
      ),
    );
    const id = await eventually(
      'B lists cli2',
      async () => (await requestsOf(b, 'incoming')).find((x) => x.name === 'cli2')?.id,
      30_000,
      200,
    );
    const declined = await cli(['requests', 'decline', id, '--reason', 'not today'], apiEnv(b));
    expect(declined.code).toBe(0);
    await eventually(
      'A sees the decline',
      async () => (await requestsOf(a, 'outgoing')).find((x) => x.id === created.id)?.state === 'declined',
      30_000,
      200,
    );
    const listed = json<{ outgoing: { id: string; state: string; decline_reason: string | null }[] }>(
      await cli(['requests', 'list', '--json'], apiEnv(a)),
    );
    expect(listed.outgoing.find((x) => x.id === created.id)).toMatchObject({
      state: 'declined',
      decline_reason: 'not today',
    });
    const revoked = await cli(['requests', 'revoke', created.id, '--local-only'], apiEnv(a));
    expect(revoked.code).toBe(0);
    const after = json<{ outgoing: { id: string }[] }>(await cli(['requests', 'list', '--json'], apiEnv(a)));
    expect(after.outgoing.map((x) => x.id)).not.toContain(created.id);
  });
});
