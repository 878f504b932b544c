/**
 * Signed uuru-fed/2 calls that must be refused, each with its code, storing
 * nothing. The test plays instance A against a real sidecar B: it signs with
 * A's real private key (read from A's database, as a stolen-key-free stand-in
 * for A's own client) so that only the one property under test is wrong.
 * Run once on SQLite and once on MariaDB.
 */
import crypto, { generateKeyPairSync, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { signRequest } from '../../src/federation/http-signature';
import {
  activeKeys,
  adminOk,
  destroyAll,
  incomingByName,
  peerRow,
  startSidecar,
  type Sidecar,
} from '../harness/sidecar';
import { waitUntil } from '../harness/wait';

/** A POST through node:http, which (unlike fetch) sends the Host header we give it. */
function rawPost(url: string, headers: Record<string, string>, body: string): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString('utf8')));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
            headers: new Headers(),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

interface Signer {
  keyId: string;
  privateKey: KeyObject;
}

interface Sent {
  status: number;
  json: Record<string, unknown>;
  headers: Headers;
}

/** Writes a peer's state into a sidecar's own database (SQLite: a second, writable connection). */
async function setPeerState(s: Sidecar, name: string, state: 'active' | 'partner_missing'): Promise<void> {
  if (!s.sqlitePath) {
    await s.query('UPDATE {db}.peers SET state = ? WHERE name = ?', [state, name]);
    return;
  }
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(s.sqlitePath, { fileMustExist: true, timeout: 5000 });
  try {
    expect(db.prepare('UPDATE peers SET state = ? WHERE name = ?').run(state, name).changes).toBe(1);
  } finally {
    db.close();
  }
}

/** Runs one write on a sidecar's own database (SQLite: a second, writable connection). */
async function writeOnB(s: Sidecar, sql: string, params: unknown[]): Promise<void> {
  if (!s.sqlitePath) {
    await s.query(sql, params);
    return;
  }
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(s.sqlitePath, { fileMustExist: true, timeout: 5000 });
  try {
    expect(db.prepare(sql.replace('{db}.', '')).run(...params).changes).toBe(1);
  } finally {
    db.close();
  }
}

describe.each(['sqlite', 'mariadb'] as const)('refused uuru-fed/2 calls (%s)', (db) => {
  let a: Sidecar;
  let b: Sidecar;
  let aKey: Signer;
  let aAgreementKid: string;
  const aServer = (): string => new URL(a.federationUrl).host;

  let phonebookDir: string;

  beforeAll(async () => {
    phonebookDir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-v2-phonebook-'));
    const phonebook = path.join(phonebookDir, 'phonebook.json');
    fs.writeFileSync(
      phonebook,
      JSON.stringify([
        { extension: '2001', name: 'Kitchen', public: true },
        { extension: '112', name: 'Emergency' },
        { extension: '2002', name: 'Hidden', public: false },
        { extension: 3001, name: 'Reserved' },
      ]),
    );
    const config = { federation: { unsolicitedRequestsPerOriginPerHour: 100 }, jobs: { outboxPollMs: 100 } };
    [a, b] = await Promise.all([
      startSidecar({ name: `refa_${db}`, db, config }),
      startSidecar({
        name: `refb_${db}`,
        db,
        config,
        env: { UURU_PHONEBOOK_FILE: phonebook, UURU_RESERVED_EXTENSIONS: '3001' },
      }),
    ]);
    ({ signing: aKey, agreementKid: aAgreementKid } = await activeKeys(a));
  }, 120_000);

  afterAll(async () => {
    await destroyAll([a, b]);
    fs.rmSync(phonebookDir, { recursive: true, force: true });
  });

  const requestBody = (name: string, extra: Record<string, unknown> = {}) => ({
    request_id: crypto.randomUUID(),
    name,
    codec: 'g722',
    extension_length: 4,
    base_url: a.federationUrl,
    iax2: { host: '127.0.0.1', port: 4569 },
    agreement_kid: aAgreementKid,
    ...extra,
  });

  /** Signs (method, signedUrl, signedBody) and sends (method, B + path, sentBody) with optional header changes. */
  async function send(p: {
    method: string;
    path: string;
    body?: unknown;
    sentBody?: string;
    signedUrl?: string;
    key?: Signer;
    now?: number;
    expiresInSec?: number;
    nonce?: string;
    alter?: (h: Record<string, string>) => void;
    unsigned?: boolean;
    replayOf?: { headers: Record<string, string>; body?: string };
  }): Promise<Sent & { sentHeaders: Record<string, string>; sentText?: string }> {
    const url = `${b.federationUrl}${p.path}`;
    const text = p.body === undefined ? undefined : JSON.stringify(p.body);
    let headers: Record<string, string>;
    if (p.replayOf) headers = { ...p.replayOf.headers };
    else if (p.unsigned) headers = text ? { 'content-type': 'application/json' } : {};
    else {
      headers = signRequest({
        method: p.method,
        url: p.signedUrl ?? url,
        body: text,
        key: p.key ?? aKey,
        now: p.now ?? Date.now(),
        nonce: p.nonce,
        expiresInSec: p.expiresInSec,
      });
    }
    p.alter?.(headers);
    const bodyOut = p.replayOf ? p.replayOf.body : (p.sentBody ?? text);
    const res = await fetch(url, { method: p.method, headers, body: bodyOut });
    const raw = await res.text();
    return {
      status: res.status,
      json: raw ? (JSON.parse(raw) as Record<string, unknown>) : {},
      headers: res.headers,
      sentHeaders: headers,
      sentText: bodyOut,
    };
  }

  const storedOnB = async (): Promise<{ incoming: number; peers: number }> => {
    const [i] = await b.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM {db}.incoming_requests');
    const [p] = await b.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM {db}.peers');
    return { incoming: Number(i.n), peers: Number(p.n) };
  };

  /** Expects the refusal and that B stored nothing because of it. */
  async function expectRefused(call: () => Promise<Sent>, status: number, code: string): Promise<Sent> {
    const before = await storedOnB();
    const r = await call();
    expect({ status: r.status, error: r.json.error }).toEqual({ status, error: code });
    expect(typeof r.json.message).toBe('string');
    expect(await storedOnB()).toEqual(before);
    return r;
  }

  const forgetIncoming = async (name: string) => {
    const list = await adminOk<{ requests: { id: string; name: string }[] }>(
      b,
      'GET',
      '/federation/incoming-requests',
      undefined,
      200,
    );
    for (const r of list.requests.filter((x) => x.name === name)) {
      await adminOk(b, 'POST', `/federation/incoming-requests/${r.id}/decline`, { local_only: true }, 204);
    }
  };

  it('a correctly signed first request is stored (control), a repeat is idempotent, a replay is refused (FED_REPLAY)', async () => {
    const body = requestBody('ctl_one');
    const first = await send({ method: 'POST', path: '/federation/v2/peering-requests', body });
    expect(first.status).toBe(201);
    expect(first.json).toEqual({ request_id: body.request_id, state: 'pending' });
    expect((await storedOnB()).incoming).toBe(1);

    const again = await send({ method: 'POST', path: '/federation/v2/peering-requests', body });
    expect(again.status).toBe(200);
    expect(again.json).toEqual({ request_id: body.request_id, state: 'pending' });

    await expectRefused(
      () =>
        send({
          method: 'POST',
          path: '/federation/v2/peering-requests',
          replayOf: { headers: first.sentHeaders, body: first.sentText },
        }),
      401,
      'FED_REPLAY',
    );
    await forgetIncoming('ctl_one');
  });

  it('one partner sending requests under four names at once: one is stored, the others are refused (FED_STATE_CONFLICT)', async () => {
    const before = await storedOnB();
    const names = ['race_a', 'race_b', 'race_c', 'race_d'];
    const answers = await Promise.all(
      names.map((name) =>
        send({ method: 'POST', path: '/federation/v2/peering-requests', body: requestBody(name) }),
      ),
    );
    const outcome = answers.map((r) => `${r.status} ${String(r.json.error ?? r.json.state)}`).sort();
    expect(outcome).toEqual([
      '201 pending',
      '409 FED_STATE_CONFLICT',
      '409 FED_STATE_CONFLICT',
      '409 FED_STATE_CONFLICT',
    ]);
    expect((await storedOnB()).incoming).toBe(before.incoming + 1);
    for (const name of names) await forgetIncoming(name);
  });

  it('the same accept sent several times at once (a resend racing the first): every copy is answered 200, one peer is stored', async () => {
    // B asks A; A's accept then reaches B more than once at the same moment, as when the replica that sent it dies
    // before recording the answer and another replica sends it again while B still stores the first. A copy
    // that lost the race answered 409 FED_STATE_CONFLICT, and the sender marked its accept failed for good (seen
    // in ha-galera's chaos run) although B had stored the peer.
    const created = await adminOk<{ id: string }>(
      b,
      'POST',
      '/federation/outgoing-requests',
      { name: 'dup_accept', partner_url: a.federationUrl, prefix: '86', codec: 'ulaw' },
      201,
    );
    const accept = {
      extension_length: 4,
      iax2: { host: '127.0.0.1', port: 4569 },
      agreement_kid: aAgreementKid,
    };
    const answers = await Promise.all(
      Array.from({ length: 6 }, () =>
        send({ method: 'POST', path: `/federation/v2/peering-requests/${created.id}/accept`, body: accept }),
      ),
    );
    expect(answers.map((r) => `${r.status} ${String(r.json.error ?? r.json.state)}`)).toEqual(
      Array.from({ length: 6 }, () => '200 active'),
    );
    const [n] = await b.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM {db}.peers WHERE name = ?', [
      'dup_accept',
    ]);
    expect(Number(n.n)).toBe(1);
    const peer = await peerRow(b, 'dup_accept');
    await adminOk(b, 'DELETE', `/federation/peers/${peer!.id}?local_only=true`, undefined, 204);
    // A holds B's request as pending (it never accepted it itself): gone too, or A could ask B nothing more.
    const onA = await waitUntil(() => incomingByName(a, 'dup_accept'), { what: "B's request on A" });
    await adminOk(a, 'POST', `/federation/incoming-requests/${onA.id}/decline`, { local_only: true }, 204);
  });

  it("an accept naming a partner agreement key B no longer knows is 409 FED_AGREEMENT_KEY_UNKNOWN (the wire's FED_UNKNOWN_KEY is 401)", async () => {
    const body = requestBody('gone_kid');
    expect((await send({ method: 'POST', path: '/federation/v2/peering-requests', body })).status).toBe(201);
    // The kid A named is gone from A's descriptor (as after A's rotation finished): B refetches and still lacks it.
    await writeOnB(b, 'UPDATE {db}.incoming_requests SET partnerAgreementKid = ? WHERE name = ?', [
      'kid-gone',
      'gone_kid',
    ]);
    const inc = await incomingByName(b, 'gone_kid');
    const r = await b.admin('POST', `/federation/incoming-requests/${inc!.id}/accept`, { prefix: '83' });
    expect({ status: r.status, error: (r.json as { error?: string }).error }).toEqual({
      status: 409,
      error: 'FED_AGREEMENT_KEY_UNKNOWN',
    });
    expect(await peerRow(b, 'gone_kid')).toBeUndefined();
    await forgetIncoming('gone_kid');
  });

  it('missing signature: FED_SIGNATURE_MISSING', async () => {
    await expectRefused(
      () =>
        send({
          method: 'POST',
          path: '/federation/v2/peering-requests',
          body: requestBody('nosig'),
          unsigned: true,
        }),
      401,
      'FED_SIGNATURE_MISSING',
    );
  });

  it('tampered body: FED_DIGEST_MISMATCH; tampered body with a recomputed digest: FED_SIGNATURE_INVALID', async () => {
    const body = requestBody('tamper1');
    const evil = JSON.stringify({ ...body, name: 'tamper2' });
    await expectRefused(
      () => send({ method: 'POST', path: '/federation/v2/peering-requests', body, sentBody: evil }),
      401,
      'FED_DIGEST_MISMATCH',
    );
    const digest = `sha-256=:${crypto.createHash('sha256').update(evil).digest('base64')}:`;
    await expectRefused(
      () =>
        send({
          method: 'POST',
          path: '/federation/v2/peering-requests',
          body,
          sentBody: evil,
          alter: (h) => (h['Content-Digest'] = digest),
        }),
      401,
      'FED_SIGNATURE_INVALID',
    );
  });

  it('tampered signature: FED_SIGNATURE_INVALID', async () => {
    await expectRefused(
      () =>
        send({
          method: 'POST',
          path: '/federation/v2/peering-requests',
          body: requestBody('badsig'),
          alter: (h) => {
            const m = /^sig1=:(.*):$/.exec(h['Signature']);
            const bytes = Buffer.from(m?.[1] ?? '', 'base64');
            bytes[5] ^= 0x01;
            h['Signature'] = `sig1=:${bytes.toString('base64')}:`;
          },
        }),
      401,
      'FED_SIGNATURE_INVALID',
    );
  });

  it('signed for another instance (wrong target URI): FED_DESTINATION_MISMATCH, or FED_SIGNATURE_INVALID if re-addressed', async () => {
    const other = 'http://127.0.0.1:1/federation/v2/peering-requests';
    const body = JSON.stringify(requestBody('elsewhere'));
    const headers = signRequest({ method: 'POST', url: other, body, key: aKey, now: Date.now() });
    // Replayed verbatim, the request still names the host it was meant for.
    await expectRefused(
      () =>
        rawPost(
          `${b.federationUrl}/federation/v2/peering-requests`,
          { ...headers, host: '127.0.0.1:1' },
          body,
        ),
      401,
      'FED_DESTINATION_MISMATCH',
    );
    await expectRefused(
      () =>
        send({
          method: 'POST',
          path: '/federation/v2/peering-requests',
          body: JSON.parse(body),
          signedUrl: other,
        }),
      401,
      'FED_SIGNATURE_INVALID',
    );
  });

  it('created too far in the past or future is refused with FED_CLOCK_SKEW and server_time; just inside the window passes', async () => {
    // A is known to B (pinned by the control request), so a signed GET reaches the time checks on its own.
    const path = `/federation/v2/peerings/${crypto.randomUUID()}`;
    const now = Date.now();
    const inside = [
      { now: now - 280_000, expiresInSec: 600 },
      { now: now + 50_000, expiresInSec: 60 },
    ];
    for (const t of inside) {
      const r = await send({ method: 'GET', path, ...t });
      expect({ status: r.status, json: r.json }).toEqual({
        status: 200,
        json: { request_id: path.split('/').pop(), state: 'unknown' },
      });
    }
    const outside = [
      { now: now - 320_000, expiresInSec: 600 },
      { now: now + 75_000, expiresInSec: 60 },
      { now: now - 130_000, expiresInSec: 60 },
    ];
    for (const t of outside) {
      const r = await expectRefused(() => send({ method: 'GET', path, ...t }), 401, 'FED_CLOCK_SKEW');
      expect(Math.abs(Date.parse(String(r.json.server_time)) - Date.now())).toBeLessThan(10_000);
    }
  });

  it('the peering-state poll answers alike on its fast route (plain path) and through Express (another spelling): state, replay, skew, missing signature', async () => {
    // The plain spelling is answered before Express (v2-routes' fast route); a trailing slash or another
    // case of the prefix is the same route for Express, which answers it as before. Both must agree.
    const id = crypto.randomUUID();
    const spellings = [`/federation/v2/peerings/${id}`, `/FEDERATION/v2/peerings/${id}/`];
    const seen: unknown[] = [];
    for (const path of spellings) {
      const ok = await send({ method: 'GET', path });
      const replay = await send({ method: 'GET', path, replayOf: { headers: ok.sentHeaders } });
      const old = await send({ method: 'GET', path, now: Date.now() - 400_000 });
      const unsigned = await send({ method: 'GET', path, unsigned: true });
      const shape = (r: Sent) => ({
        status: r.status,
        type: r.headers.get('content-type'),
        retryAfter: r.headers.get('retry-after'),
        json: { ...r.json, server_time: r.json.server_time === undefined ? undefined : 'set' },
      });
      seen.push([ok, replay, old, unsigned].map(shape));
    }
    expect(seen[0]).toEqual([
      {
        status: 200,
        type: 'application/json; charset=utf-8',
        retryAfter: null,
        json: { request_id: id, state: 'unknown', server_time: undefined },
      },
      {
        status: 401,
        type: 'application/json; charset=utf-8',
        retryAfter: null,
        json: {
          error: 'FED_REPLAY',
          message: 'this request was already received (nonce reused)',
          server_time: undefined,
        },
      },
      {
        status: 401,
        type: 'application/json; charset=utf-8',
        retryAfter: null,
        json: {
          error: 'FED_CLOCK_SKEW',
          message: 'the signature is too old; check the clock',
          server_time: 'set',
        },
      },
      expect.objectContaining({
        status: 401,
        json: expect.objectContaining({ error: 'FED_SIGNATURE_MISSING' }),
      }),
    ]);
    expect(seen[1]).toEqual(seen[0]);
  });

  it('a kid the sender does not publish: FED_UNKNOWN_KEY', async () => {
    const stranger = generateKeyPairSync('ed25519').privateKey;
    await expectRefused(
      () =>
        send({
          method: 'POST',
          path: '/federation/v2/peering-requests',
          body: requestBody('unknownkid'),
          key: { keyId: `${aServer()}#k20990101zzzzzz`, privateKey: stranger },
        }),
      401,
      'FED_UNKNOWN_KEY',
    );
  });

  it('unknown fields and oversized bodies are refused (FED_MALFORMED, FED_TOO_LARGE)', async () => {
    await expectRefused(
      () =>
        send({
          method: 'POST',
          path: '/federation/v2/peering-requests',
          body: requestBody('extra', { secret: 'x' }),
        }),
      400,
      'FED_MALFORMED',
    );
    await expectRefused(
      () =>
        send({
          method: 'POST',
          path: '/federation/v2/peering-requests',
          body: requestBody('huge', { pad: 'x'.repeat(70 * 1024) }),
        }),
      413,
      'FED_TOO_LARGE',
    );
  });

  it('a hostile iax2.host, base_url or agreement_kid is refused with FED_MALFORMED before anything is stored', async () => {
    for (const host of [
      'peer\r\nhost=10.6.6.6',
      '#include /etc/passwd',
      '${SHELL(id)}',
      '$[1+1]',
      '127.0.0.1\n[x]',
      '[::1',
      ' ',
      'ехаmple.org',
      'ｐｅｅｒ',
      'fe80::1%eth0',
    ]) {
      const r = await expectRefused(
        () =>
          send({
            method: 'POST',
            path: '/federation/v2/peering-requests',
            body: requestBody('hostile_host', { iax2: { host, port: 4569 } }),
          }),
        400,
        'FED_MALFORMED',
      );
      expect(r.json.message).toContain('iax2.host');
    }
    await expectRefused(
      () =>
        send({
          method: 'POST',
          path: '/federation/v2/peering-requests',
          body: requestBody('hostile_url', { base_url: `${a.federationUrl}/?secret=x` }),
        }),
      400,
      'FED_MALFORMED',
    );
    await expectRefused(
      () =>
        send({
          method: 'POST',
          path: '/federation/v2/peering-requests',
          body: requestBody('hostile_kid', { agreement_kid: `${aAgreementKid}\n[x]` }),
        }),
      400,
      'FED_MALFORMED',
    );
    // An accept carries the partner's host too: refused on its body before the request is even looked up.
    const acceptPath = `/federation/v2/peering-requests/${crypto.randomUUID()}/accept`;
    const acceptBody = (host: string) => ({
      extension_length: 4,
      iax2: { host, port: 4569 },
      agreement_kid: aAgreementKid,
    });
    const unknown = await send({ method: 'POST', path: acceptPath, body: acceptBody('127.0.0.1') });
    expect({ status: unknown.status, error: unknown.json.error }).toEqual({
      status: 404,
      error: 'FED_UNKNOWN_REQUEST',
    });
    await expectRefused(
      () => send({ method: 'POST', path: acceptPath, body: acceptBody('peer\r\nhost=10.6.6.6') }),
      400,
      'FED_MALFORMED',
    );
    expect(await incomingByName(b, 'hostile_host')).toBeUndefined();
  });

  it('a path parameter that is not valid percent-encoding is FED_MALFORMED (400), signed or not, never a 500', async () => {
    for (const p of [
      '/federation/v2/peerings/%',
      '/federation/v2/peerings/%zz',
      '/federation/v2/peerings/%C0%AF',
    ]) {
      for (const unsigned of [true, false]) {
        const r = await send({ method: 'GET', path: p, unsigned });
        expect({ p, unsigned, status: r.status, json: r.json }).toEqual({
          p,
          unsigned,
          status: 400,
          json: { error: 'FED_MALFORMED', message: 'a path parameter is not valid percent-encoding' },
        });
      }
    }
    await expectRefused(
      () =>
        send({
          method: 'POST',
          path: '/federation/v2/peering-requests/%/accept',
          body: {
            extension_length: 4,
            iax2: { host: '127.0.0.1', port: 4569 },
            agreement_kid: aAgreementKid,
          },
        }),
      400,
      'FED_MALFORMED',
    );
    // A Content-Encoding the server cannot decode is the sender's mistake too: 400 FED_MALFORMED (protocol table), not ours.
    const encoded = await send({
      method: 'POST',
      path: '/federation/v2/peering-requests',
      body: requestBody('encoded'),
      alter: (h) => {
        h['content-encoding'] = 'x-unknown';
      },
    });
    expect({ status: encoded.status, error: encoded.json.error }).toEqual({
      status: 400,
      error: 'FED_MALFORMED',
    });
  });

  describe('policy', () => {
    const open = {
      mode: 'open',
      allowed_peers: [],
      blocked_peers: [],
      allow_legacy: true,
      unfederated_numbers: [],
    };
    afterAll(async () => {
      await adminOk(b, 'PUT', '/federation/policy', open, 200);
    });

    it('a blocked peer is refused (FED_POLICY_DENIED), signed directly and through A’s admin API', async () => {
      await adminOk(b, 'PUT', '/federation/policy', { ...open, blocked_peers: [aServer()] }, 200);
      await expectRefused(
        () => send({ method: 'POST', path: '/federation/v2/peering-requests', body: requestBody('blocked') }),
        403,
        'FED_POLICY_DENIED',
      );
      const before = await storedOnB();
      const viaAdmin = await a.admin('POST', '/federation/outgoing-requests', {
        name: 'blocked',
        partner_url: b.federationUrl,
        prefix: '71',
        codec: 'g722',
      });
      expect(viaAdmin.status).toBe(403);
      expect(viaAdmin.json).toMatchObject({ error: 'FED_POLICY_DENIED' });
      expect(await storedOnB()).toEqual(before);
      // A keeps nothing either: the request is removed when the partner refuses.
      const outs = await adminOk<{ requests: unknown[] }>(
        a,
        'GET',
        '/federation/outgoing-requests',
        undefined,
        200,
      );
      expect(outs.requests).toEqual([]);
    });

    it('closed policy refuses everyone (FED_POLICY_DENIED); invite_only admits only allowed_peers', async () => {
      await adminOk(b, 'PUT', '/federation/policy', { ...open, mode: 'closed' }, 200);
      await expectRefused(
        () => send({ method: 'POST', path: '/federation/v2/peering-requests', body: requestBody('closed') }),
        403,
        'FED_POLICY_DENIED',
      );
      await adminOk(
        b,
        'PUT',
        '/federation/policy',
        { ...open, mode: 'invite_only', allowed_peers: ['pbx.example.org'] },
        200,
      );
      await expectRefused(
        () =>
          send({ method: 'POST', path: '/federation/v2/peering-requests', body: requestBody('notinvited') }),
        403,
        'FED_POLICY_DENIED',
      );
      await adminOk(
        b,
        'PUT',
        '/federation/policy',
        { ...open, mode: 'invite_only', allowed_peers: [aServer()] },
        200,
      );
      const ok = await send({
        method: 'POST',
        path: '/federation/v2/peering-requests',
        body: requestBody('invited'),
      });
      expect(ok.status).toBe(201);
      await forgetIncoming('invited');
    });

    it('the descriptor reports the policy mode but never the allowed or blocked lists', async () => {
      await adminOk(
        b,
        'PUT',
        '/federation/policy',
        {
          ...open,
          mode: 'invite_only',
          allowed_peers: ['secret-friend.example'],
          blocked_peers: ['enemy.example'],
        },
        200,
      );
      const res = await fetch(`${b.federationUrl}/.well-known/uuru-federation`);
      const text = await res.text();
      expect(JSON.parse(text)).toMatchObject({
        policy_mode: 'invite_only',
        protocol_versions: ['uuru-fed/2', 'uuru/1'],
      });
      expect(text).not.toContain('secret-friend');
      expect(text).not.toContain('enemy');
    });
  });

  it('A’s admin API refuses bad prefixes before contacting B (PREFIX_CONFLICT, non-digits)', async () => {
    const before = await storedOnB();
    const bad = await a.admin('POST', '/federation/outgoing-requests', {
      name: 'pfx',
      partner_url: b.federationUrl,
      prefix: '11',
      codec: 'g722',
    });
    expect(bad.status).toBe(409);
    expect(bad.json).toMatchObject({ error: 'PREFIX_CONFLICT' });
    expect(String((bad.json as { message: string }).message)).toMatch(/emergency number 11[02]/);
    const letters = await a.admin('POST', '/federation/outgoing-requests', {
      name: 'pfx',
      partner_url: b.federationUrl,
      prefix: '7a',
      codec: 'g722',
    });
    expect(letters.status).toBe(400);
    expect(letters.json).toMatchObject({
      error: 'VALIDATION_FAILED',
      issues: [expect.objectContaining({ field: 'body.prefix' })],
    });
    expect(await storedOnB()).toEqual(before);
  });

  it('v2 phonebook: signed, for active peers only, never listing unfederated or hidden numbers', async () => {
    const unsigned = await fetch(`${b.federationUrl}/federation/v2/phonebook`);
    expect(unsigned.status).toBe(401);
    await expectRefused(
      () => send({ method: 'GET', path: '/federation/v2/phonebook' }),
      403,
      'FED_NOT_PEERED',
    );

    await adminOk(
      a,
      'POST',
      '/federation/outgoing-requests',
      { name: 'pb_peer', partner_url: b.federationUrl, prefix: '71', codec: 'g722' },
      201,
    );
    const inc = await waitUntil(() => incomingByName(b, 'pb_peer'), { what: 'incoming on B' });
    await adminOk(b, 'POST', `/federation/incoming-requests/${inc.id}/accept`, { prefix: '72' }, 200);
    await waitUntil(() => peerRow(a, 'pb_peer'), { what: 'peer on A' });
    const r = await send({ method: 'GET', path: '/federation/v2/phonebook' });
    expect({ status: r.status, json: r.json }).toEqual({
      status: 200,
      json: [{ extension: '2001', name: 'Kitchen' }],
    });

    // A peer B's anti-entropy marked partner_missing is no longer served. The state is written
    // directly (anti-entropy sets it on its schedule; waiting for a tick here would be slow).
    await setPeerState(b, 'pb_peer', 'partner_missing');
    await expectRefused(
      () => send({ method: 'GET', path: '/federation/v2/phonebook' }),
      403,
      'FED_NOT_PEERED',
    );
    await setPeerState(b, 'pb_peer', 'active');
    expect((await send({ method: 'GET', path: '/federation/v2/phonebook' })).status).toBe(200);
  });
});
