import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { externalMariaDbFromEnv, testDatabaseName } from '../harness/mariadb';
import { destroyAll, type Sidecar, startSidecar } from '../harness/sidecar';

import { cookieValue, tryLogin, type Instance } from './admin-fixtures';
import { cli, ROOT, type Run } from './cli-fixtures';
import { waitUntil } from '../harness/wait';

/**
 * The real, built `uuru-fed` CLI as a child process against two real sidecar
 * processes: A on MariaDB, B on SQLite. `admin create` and `token create`
 * write the sidecar's database directly; everything else goes through the
 * running instance's admin API. Exit codes: 0 ok, 1 refused/failed, 2 usage.
 */

let a: Sidecar;
let b: Sidecar;
/** This file's temporary folders, removed at the end. */
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-cli-test-'));

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
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe('usage', () => {
  it('prints help everywhere with exit 0, and exits 2 on bad usage', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Exit codes:');
    for (const cmd of [
      'status',
      'asterisk',
      'completion',
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
    const unknown = await cli(['frobnicate']);
    expect(unknown.code).toBe(2);
    // One prefix for every error, Commander's own included.
    expect(unknown.stderr).toMatch(/^uuru-fed: unknown command 'frobnicate'/);
    const version = await cli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toBe(
      `${(JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version}\n`,
    );
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
    expect(unreachable.stderr).toMatch(/^uuru-fed: cannot reach the admin API/);
    const badToken = await cli(['peers', 'list'], apiEnv(a, 'uuf_wrong'));
    expect(badToken.code).toBe(1);
    expect(badToken.stderr).toMatch(/^uuru-fed: AUTH_INVALID: /);
  });

  it('says so when --url points at the federation listener instead of the admin API', async () => {
    const r = await cli(['--url', a.federationUrl, 'peers', 'list'], { UURU_ADMIN_TOKEN: a.token });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('uuru-fed: NOT_FOUND: ');
    expect(r.stderr).toContain(`uuru-fed: hint: ${a.federationUrl} is a federation listener`);
    // The admin listener's own NOT_FOUND (an unknown peer id) gives no such hint.
    const other = await cli(['peer', 'show', 'nobody'], apiEnv(a));
    expect(other.stderr).not.toContain('hint:');
  });

  it('prints a bash completion script that completes commands, subcommands and options', async () => {
    const script = await cli(['completion', 'bash']);
    expect(script.code).toBe(0);
    const file = path.join(fs.mkdtempSync(path.join(scratch, 'completion-')), 'uuru-fed.bash');
    fs.writeFileSync(file, script.stdout);
    const complete = (...words: string[]) =>
      execFileSync(
        'bash',
        [
          '-c',
          `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _uuru_fed_complete; printf '%s\\n' "\${COMPREPLY[@]}"`,
          'bash',
          file,
          ...words,
        ],
        { encoding: 'utf8' },
      )
        .split('\n')
        .filter(Boolean)
        .sort();
    expect(complete('uuru-fed', 'pe')).toEqual(['peer', 'peers']);
    expect(complete('uuru-fed', 'peer', '')).toEqual(['--help', 'rotate-secret', 'show', 'teardown']);
    expect(complete('uuru-fed', '--url', 'http://x', 'peer', 'teardown', '--')).toEqual([
      '--help',
      '--json',
      '--local-only',
      '--yes',
    ]);
    expect(complete('uuru-fed', 'token', 'r')).toEqual(['revoke']);
    expect((await cli(['completion', 'fish'])).code).toBe(2);
  });
});

describe('database commands', () => {
  it('admin create makes a panel account (password from stdin); refuses duplicates and short passwords', async () => {
    const created = await cli(['admin', 'create', 'alice'], dbEnv(a), 'a fine long password\n');
    // Which database it works on, never the password.
    expect(created.stderr).toMatch(/^uuru-fed: database: MariaDB \S+@\S+:\d+\/uuru_test_cli_a_\w+\n$/);
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
    // Each run is in the audit trail under the host user who ran it, refusals with their code; no password.
    const audit = await a.query<Record<string, string | null>>(
      "SELECT actorKind, actor, action, target, outcome, errorCode FROM {db}.audit_events WHERE via = 'cli' ORDER BY seq",
    );
    expect(audit.map((r) => [r.actorKind, r.actor, r.action, r.target, r.errorCode ?? r.outcome])).toEqual([
      ['local', os.userInfo().username, 'admin.create', 'alice', 'ok'],
      ['local', os.userInfo().username, 'admin.create', 'alice', 'ADMIN_EXISTS'],
      ['local', os.userInfo().username, 'admin.create', 'bob', 'PASSWORD_TOO_SHORT'],
      ['local', os.userInfo().username, 'admin.create', 'alice', 'ok'],
    ]);
    expect(JSON.stringify(audit)).not.toMatch(/password/);
  });

  it('token create prints a token once, stores its hash, and the running instance accepts it', async () => {
    const created = await cli(['token', 'create', 'ci'], dbEnv(b));
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^uuf_[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toBe(
      `uuru-fed: database: SQLite ${b.sqlitePath}\nuuru-fed: token 'ci' created; store it now, it is not shown again\n`,
    );
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

describe('the database the CLI works on', () => {
  it('refuses to create a new SQLite database unless --init, naming it and UURU_DATA_DIR; creates nothing', async () => {
    const elsewhere = fs.mkdtempSync(path.join(scratch, 'elsewhere-'));
    // As an admin would run it from another folder: no UURU_DATA_DIR, so ./data there.
    const r = await cli(['admin', 'create', 'carol'], {}, 'a fine long password\n', { cwd: elsewhere });
    expect(r.code).toBe(1);
    const file = path.join(elsewhere, 'data', 'uuru-federation.sqlite');
    expect(r.stderr).toContain(`uuru-fed: database: SQLite ${file}\n`);
    expect(r.stderr).toContain(`uuru-fed: CLI_DATABASE_MISSING: no sidecar database at ${file}`);
    expect(r.stderr).toContain(`UURU_DATA_DIR is "./data", read from ${elsewhere}`);
    expect(r.stderr).toContain('--init');
    expect(r.stdout).toBe('');
    expect(fs.readdirSync(elsewhere)).toEqual([]);
    const t = await cli(['token', 'create', 'x'], {}, '', { cwd: elsewhere });
    expect(t.code).toBe(1);
    expect(t.stderr).toContain('CLI_DATABASE_MISSING');
    expect(fs.readdirSync(elsewhere)).toEqual([]);

    const init = await cli(['admin', 'create', 'carol', '--init'], {}, 'a fine long password\n', {
      cwd: elsewhere,
    });
    expect(init.code).toBe(0);
    expect(init.stdout).toBe("admin 'carol' created\n");
    expect(fs.existsSync(file)).toBe(true);
    // Now it exists: no --init needed.
    const token = await cli(['token', 'create', 'later'], {}, '', { cwd: elsewhere });
    expect(token.code).toBe(0);
  });

  it('refuses a MariaDB database that holds no sidecar tables unless --init', async () => {
    const server = externalMariaDbFromEnv()!;
    const name = testDatabaseName('cli_empty');
    await server.createDatabase(name);
    try {
      const env = { ...dbEnv(a), UURU_DATABASE_DB: name };
      const r = await cli(['token', 'create', 'x'], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`CLI_DATABASE_MISSING: MariaDB ${server.user}@`);
      expect(r.stderr).toContain(`/${name} holds no sidecar tables`);
      expect(r.stderr).not.toContain(server.password || 'no password set');
      const tables = await server.query<{ n: number }[]>(
        'SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?',
        [name],
      );
      expect(Number(tables[0].n)).toBe(0);
      const init = await cli(['token', 'create', 'x', '--init'], env);
      expect(init.code).toBe(0);
      expect(init.stdout).toMatch(/^uuf_/);
    } finally {
      await server.dropDatabase(name);
    }
  });
});

describe('tokens and admins over the admin API', () => {
  it('token list / revoke by name; the revoked token is refused at once', async () => {
    const made = await cli(['token', 'create', 'to-revoke'], dbEnv(b));
    const secret = made.stdout.trim();
    const listed = json<{ tokens: { id: string; name: string; last_used_at: string | null }[] }>(
      await cli(['token', 'list', '--json'], apiEnv(b, secret)),
    );
    const row = listed.tokens.find((t) => t.name === 'to-revoke')!;
    expect(row.last_used_at).not.toBeNull();
    expect(JSON.stringify(listed)).not.toContain(secret);
    const table = await cli(['tokens', 'list'], apiEnv(b));
    expect(table.stdout).toMatch(/^ID\s+NAME\s+CREATED\s+LAST USED\n/);
    expect(table.stdout).toContain('to-revoke');
    const revoked = await cli(['token', 'revoke', 'to-revoke'], apiEnv(b));
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toBe("token 'to-revoke' revoked\n");
    const refused = await cli(['peers', 'list'], apiEnv(b, secret));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('AUTH_INVALID');
    const again = await cli(['token', 'revoke', row.id], apiEnv(b));
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('TOKEN_NOT_FOUND');
  });

  it('a name two tokens share is refused with their ids', async () => {
    await cli(['token', 'create', 'twin'], dbEnv(b));
    await cli(['token', 'create', 'twin'], dbEnv(b));
    const r = await cli(['token', 'revoke', 'twin'], apiEnv(b));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/CLI_AMBIGUOUS_NAME: 2 tokens are named 'twin'; give the id: \S+, \S+/);
    const left = json<{ tokens: { name: string }[] }>(await cli(['token', 'list', '--json'], apiEnv(b)));
    expect(left.tokens.filter((t) => t.name === 'twin')).toHaveLength(2);
  });

  it('admin list / revoke: the account and its panel sessions end', async () => {
    expect((await cli(['admin', 'create', 'dave'], dbEnv(b), 'dave has a long password\n')).code).toBe(0);
    const asInstance = { adminUrl: b.adminUrl } as Instance;
    const login = await tryLogin(asInstance, 'dave', 'dave has a long password');
    expect(login.status).toBe(303);
    const cookie = `uuru_fed_session=${cookieValue(login, 'uuru_fed_session')}`;
    const before = await fetch(`${b.adminUrl}/api/admin/federation/peers`, { headers: { cookie } });
    expect(before.status).toBe(200);
    const listed = await cli(['admin', 'list'], apiEnv(b));
    expect(listed.stdout).toMatch(/^ID\s+USERNAME\s+CREATED\n/);
    expect(listed.stdout).toContain('dave');
    const revoked = await cli(['admin', 'revoke', 'dave'], apiEnv(b));
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toBe("admin 'dave' deleted\n");
    const after = await fetch(`${b.adminUrl}/api/admin/federation/peers`, { headers: { cookie } });
    expect(after.status).toBe(401);
    expect((await tryLogin(asInstance, 'dave', 'dave has a long password')).status).toBe(401);
    const gone = await cli(['admin', 'revoke', 'dave'], apiEnv(b));
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("ADMIN_NOT_FOUND: no admin with id or name 'dave'");
  });
});

describe('API commands', () => {
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
    await waitUntil(async () => requestsOf(b, 'incoming').then((r) => r.some((x) => x.name === 'clipeer')), {
      what: 'B has clipeer',
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    const incoming = json<{ incoming: { id: string; name: string }[] }>(
      await cli(['requests', 'list', '--json'], apiEnv(b)),
    );
    const incomingId = incoming.incoming.find((x) => x.name === 'clipeer')!.id;
    const refused = await cli(['requests', 'accept', 'no-such-request', '--prefix', '52'], apiEnv(b));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `uuru-fed: FED_UNKNOWN_REQUEST: no incoming request with id or name 'no-such-request' (see "uuru-fed requests list")\n`,
    );
    // By name, as the list shows it.
    const accepted = await cli(['requests', 'accept', 'clipeer', '--prefix', '52'], apiEnv(b));
    expect(accepted.code).toBe(0);
    expect(accepted.stdout).toContain("accepted: peer 'clipeer'");
    expect((await requestsOf(b, 'incoming')).map((r) => r.id)).not.toContain(incomingId);
    await waitUntil(
      async () =>
        ((await a.admin('GET', '/federation/peers')).json as { peers: unknown[] }).peers.length === 1,
      { what: 'A has clipeer', timeoutMs: 30_000, intervalMs: 200 },
    );
    const peersA = json<{ peers: { name: string; prefix: string; dialect: string }[] }>(
      await cli(['peers', 'list', '--json'], apiEnv(a)),
    ).peers.find((p) => p.name === 'clipeer');
    expect(peersA).toMatchObject({ prefix: '51', dialect: 'v2' });
    const table = await cli(['peers', 'list'], apiEnv(b));
    expect(table.stdout).toMatch(/^ID\s+NAME\s+PREFIX/);
    expect(table.stdout).toMatch(/LAST SEEN\s+LINK ERROR\s+PARTNER ERROR\s+SECRET EPOCH\s+NEXT ROTATION\n/);
    expect(table.stdout).toMatch(/clipeer\s+52\s+/);
  });

  it('peer show by name; status summarises the instance, its listeners, Asterisk and the peers', async () => {
    const shown = await cli(['peer', 'show', 'clipeer'], apiEnv(b));
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(
      /^id: +\S+\nname: +clipeer\nprefix: +52 \(then 4 digits\)\npartner: +http:\/\/127\.0\.0\.1:\d+\n/,
    );
    expect(shown.stdout).toMatch(/\napply: +pending\n/);
    const j = json<{ name: string; prefix: string; role: string }>(
      await cli(['peer', 'show', 'clipeer', '--json'], apiEnv(b)),
    );
    expect(j).toMatchObject({ name: 'clipeer', prefix: '52', role: 'acceptor' });

    const status = await cli(['status'], apiEnv(b));
    expect(status.code).toBe(0);
    const adminHostPort = b.adminUrl.replace('http://', '');
    const fedHostPort = b.federationUrl.replace('http://', '');
    expect(status.stdout).toContain(`instance:     ${b.federationUrl}, IAX2 127.0.0.1:4569, version `);
    expect(status.stdout).toContain(`listeners:    federation ${fedHostPort}, admin ${adminHostPort}\n`);
    expect(status.stdout).toContain('asterisk:     disabled (UURU_ASTERISK_ENABLED=false)');
    expect(status.stdout).toContain('peers:        1: 1 active; 1 pending; 1 unknown\n');
    expect(status.stdout).toContain('signed in as: bootstrap\n');
    const sj = json<{ peers: { total: number; by_state: Record<string, number> }; listeners: unknown }>(
      await cli(['status', '--json'], apiEnv(b)),
    );
    expect(sj.peers).toMatchObject({ total: 1, by_state: { active: 1 } });
    expect(sj.listeners).toEqual({ federation: fedHostPort, admin: adminHostPort });
  });

  it('peer rotate-secret forces a rotation agreed with the partner; a second one is refused while it lasts', async () => {
    const rotated = await cli(['peer', 'rotate-secret', 'clipeer'], apiEnv(a));
    expect(rotated.code).toBe(0);
    const at = /; forced rotation at (\S+Z)/.exec(rotated.stdout)?.[1] ?? '';
    expect(rotated.stdout).toMatch(
      /^peer 'clipeer': \d+ \(every 2592000 s\), next rotation \S+Z(; the (next|previous) epoch's secret is accepted too)?; forced rotation at \S+Z\n$/,
    );
    // One overlap (24 h) ahead, or moved out of a boundary's overlap: never in the past, never more than an epoch away.
    expect(Date.parse(at) - Date.now()).toBeGreaterThan(23 * 3_600_000);
    expect(Date.parse(at) - Date.now()).toBeLessThan(31 * 86_400_000);
    // B agreed to the same moment (over a signed v2 call).
    const onB = json<{ trunk_rotation: { forced_rotation_at: string | null } }>(
      await cli(['peer', 'show', 'clipeer', '--json'], apiEnv(b)),
    );
    expect(onB.trunk_rotation.forced_rotation_at).toBe(at);
    const again = await cli(['peer', 'rotate-secret', 'clipeer'], apiEnv(b));
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^uuru-fed: FED_ROTATION_PENDING: /);
    const json2 = json<{ trunk_rotation: { forced_rotation_at: string | null } }>(
      await cli(['peer', 'show', 'clipeer', '--json'], apiEnv(a)),
    );
    expect(json2.trunk_rotation.forced_rotation_at).toBe(at);
  });

  it('asterisk config prints the generated files with the IAX2 secret replaced', async () => {
    const r = await cli(['asterisk', 'config'], apiEnv(b));
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('uuru-fed: Asterisk integration is disabled in this instance');
    expect(r.stdout).toContain(';; ==> iax-uuru-federation.conf <==\n');
    // The lines every friend shares are written once, in the template each friend section inherits.
    expect(r.stdout).toMatch(/\n\[uuru-federation-friend\]\(!\)\ntype=friend\n/);
    expect(r.stdout).toMatch(/\n\[clipeer\]\(uuru-federation-friend\)\nhost=127\.0\.0\.1\n/);
    expect(r.stdout).toContain('\nsecret=<redacted>\n');
    expect(r.stdout).toMatch(/\ndescription=uuru-federation [0-9a-f]{12}\n/);
    expect(r.stdout).toContain('exten => _52XXXX,1,Dial(IAX2/clipeer/${EXTEN:-4})');
    // One secret line per section that carries one: the friend, and a user per accepted epoch (two around a
    // rotation); every one redacted.
    const secrets = r.stdout.match(/^secret=.*$/gm) ?? [];
    expect(secrets.length).toBeGreaterThanOrEqual(1);
    expect(new Set(secrets)).toEqual(new Set(['secret=<redacted>']));
    const only = await cli(['asterisk', 'config', '--file', 'extensions'], apiEnv(b));
    expect(only.stdout).not.toContain('[clipeer]');
    expect(only.stdout).toContain('[uuru-fed-in-clipeer]');
    const j = json<{ backend: string; files: { name: string; content: string }[] }>(
      await cli(['asterisk', 'config', '--json'], apiEnv(b)),
    );
    expect(j.backend).toBe('files');
    expect(j.files.map((f) => f.name)).toEqual([
      'iax-uuru-federation.conf',
      'extensions-uuru-federation.conf',
    ]);
    expect((await cli(['asterisk', 'config', '--file', 'sip'], apiEnv(b))).code).toBe(2);
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

  it('peer teardown asks on a terminal, refuses without --yes in scripts, and tears down by name', async () => {
    const peerCount = async () =>
      ((await a.admin('GET', '/federation/peers')).json as { peers: unknown[] }).peers.length;
    const noTty = await cli(['peer', 'teardown', 'clipeer'], apiEnv(a));
    expect(noTty.code).toBe(2);
    expect(noTty.stderr).toContain('uuru-fed: CLI_CONFIRMATION_REQUIRED: ');
    expect(noTty.stderr).toContain('--yes');
    expect(await peerCount()).toBe(1);
    const no = await cli(['peer', 'teardown', 'clipeer'], apiEnv(a), 'n\n', { tty: true });
    expect(no.stdout).toMatch(
      /Tear down peer 'clipeer' \(prefix 51, http:\/\/127\.0\.0\.1:\d+\)\? .*\[y\/N\]/,
    );
    expect(no.stdout).toContain("uuru-fed: peer 'clipeer' left as it is");
    expect(no.code).toBe(1);
    expect(await peerCount()).toBe(1);
    const r = await cli(['peer', 'teardown', 'clipeer', '--yes'], apiEnv(a));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("peer 'clipeer' torn down\n");
    const gone = await cli(['peer', 'teardown', 'clipeer', '--yes'], apiEnv(a));
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('FED_UNKNOWN_PEER');
    await waitUntil(
      async () =>
        ((await b.admin('GET', '/federation/peers')).json as { peers: unknown[] }).peers.length === 0,
      { what: 'B dropped clipeer', timeoutMs: 30_000, intervalMs: 200 },
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
    const id = await waitUntil(
      async () => (await requestsOf(b, 'incoming')).find((x) => x.name === 'cli2')?.id,
      { what: 'B lists cli2', timeoutMs: 30_000, intervalMs: 200 },
    );
    const declined = await cli(['requests', 'decline', 'cli2', '--reason', 'not today'], apiEnv(b));
    expect(declined.code).toBe(0);
    expect(declined.stdout).toBe(`declined 'cli2' (${id})\n`);
    await waitUntil(
      async () => (await requestsOf(a, 'outgoing')).find((x) => x.id === created.id)?.state === 'declined',
      { what: 'A sees the decline', timeoutMs: 30_000, intervalMs: 200 },
    );
    const listed = json<{ outgoing: { id: string; state: string; decline_reason: string | null }[] }>(
      await cli(['requests', 'list', '--json'], apiEnv(a)),
    );
    expect(listed.outgoing.find((x) => x.id === created.id)).toMatchObject({
      state: 'declined',
      decline_reason: 'not today',
    });
    const revoked = await cli(['requests', 'revoke', 'cli2', '--local-only'], apiEnv(a));
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toBe(`revoked 'cli2' (${created.id})\n`);
    const after = json<{ outgoing: { id: string }[] }>(await cli(['requests', 'list', '--json'], apiEnv(a)));
    expect(after.outgoing.map((x) => x.id)).not.toContain(created.id);
  });
  it('peer teardown on a terminal goes ahead when the admin answers y', async () => {
    const created = await cli(
      [
        'requests',
        'create',
        '--name',
        'cli3',
        '--partner-url',
        b.federationUrl,
        '--prefix',
        '54',
        '--codec',
        'alaw',
      ],
      apiEnv(a),
    );
    expect(created.code).toBe(0);
    await waitUntil(async () => (await requestsOf(b, 'incoming')).some((x) => x.name === 'cli3'), {
      what: 'B lists cli3',
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    expect((await cli(['requests', 'accept', 'cli3', '--prefix', '55'], apiEnv(b))).code).toBe(0);
    const yes = await cli(['peer', 'teardown', 'cli3', '--local-only'], apiEnv(b), 'y\n', { tty: true });
    expect(yes.stdout).toContain("Tear down peer 'cli3' (prefix 55, ");
    expect(yes.stdout).toContain('Only our side goes; the partner is not told.');
    expect(yes.stdout).toContain("peer 'cli3' torn down (local side only)");
    expect(yes.code).toBe(0);
    const left = ((await b.admin('GET', '/federation/peers')).json as { peers: { name: string }[] }).peers;
    expect(left.map((p) => p.name)).not.toContain('cli3');
  });
});
