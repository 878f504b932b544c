/**
 * The legacy v1 dialect (stock µURU's JSON API).
 *
 * 1. Two real sidecars, the requester forced to v1, in both directions: each
 *    sidecar plays both µURU roles (client and server) against the other.
 * 2. Raw HTTP with the exact bodies stock µURU sends (its pydantic models
 *    serialised with exclude_unset / exclude_none) to our /api/v1, checking
 *    status codes and {"detail": ...} bodies.
 * 3. Our v1 client towards a recording µURU stand-in (stock µURU is a Python
 *    service that cannot run here): the bodies on the wire have exactly
 *    µURU's field names and types, and no auth header.
 *
 * Once on SQLite and once on MariaDB.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import {
  adminOk,
  countRows,
  destroyAll,
  incomingByName,
  outgoingByName,
  peerByName,
  peerRow,
  startSidecar,
  type Sidecar,
} from '../harness/sidecar';
import { waitUntil } from '../harness/wait';

const timings = {
  jobs: { outboxPollMs: 100 },
  federation: { outboxRetryBaseMs: 200, outboxRetryMaxMs: 1000, unsolicitedRequestsPerOriginPerHour: 100 },
};

const uuruSecret = (): string => {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(crypto.randomBytes(32), (b) => abc[b % 62]).join('');
};

interface Json {
  status: number;
  json: unknown;
}

async function call(method: string, url: string, body?: unknown): Promise<Json> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as unknown) : null };
}

/** Records every request and answers like µURU: 200 {"status":"OK"}. */
interface Recorded {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}
async function startRecordingUuruStandIn(): Promise<{
  url: string;
  seen: Recorded[];
  close(): Promise<void>;
}> {
  const seen: Recorded[] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString('utf8')));
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: text ? (JSON.parse(text) as unknown) : null,
      });
      res.writeHead(req.url === '/.well-known/uuru-federation' ? 404 : 200, {
        'content-type': 'application/json',
      });
      res.end(req.url === '/.well-known/uuru-federation' ? '{"detail":"Not Found"}' : '{"status":"OK"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

describe.each(['sqlite', 'mariadb'] as const)('legacy v1 (stock µURU) dialect (%s)', (db) => {
  let a: Sidecar;
  let b: Sidecar;
  let phonebookDir: string;

  beforeAll(async () => {
    phonebookDir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-v1-phonebook-'));
    const phonebook = path.join(phonebookDir, 'phonebook.csv');
    fs.writeFileSync(
      phonebook,
      [
        'extension,name,type,public,location_name,lat,lon',
        '2001,"Kitchen, ground floor",SIP,true,Hall A,525200000,134050000',
        '2002,Secret lab,SIP,false,,,',
        '110,Police,SIP,true,,,',
        '9001,Service desk,SIP,true,,,',
        '2003,Info,DECT,true,,,',
      ].join('\n'),
    );
    [a, b] = await Promise.all([
      startSidecar({ name: `v1a_${db}`, db, config: timings }),
      startSidecar({
        name: `v1b_${db}`,
        db,
        config: timings,
        env: { UURU_PHONEBOOK_FILE: phonebook, UURU_RESERVED_EXTENSIONS: '9*' },
      }),
    ]);
  }, 120_000);

  afterAll(async () => {
    await destroyAll([a, b]);
    fs.rmSync(phonebookDir, { recursive: true, force: true });
  });

  describe('two sidecars, requester forced to v1', () => {
    const requestV1 = (from: Sidecar, to: Sidecar, name: string, prefix: string) =>
      adminOk<{ id: string; dialect: string }>(
        from,
        'POST',
        '/federation/outgoing-requests',
        { name, partner_url: to.federationUrl, prefix, codec: 'alaw', dialect: 'v1' },
        201,
      );

    it('A requests (v1), B accepts: both hold the peer with the same 32-character secret; teardown from A', async () => {
      const created = await requestV1(a, b, 'v1_ab', '61');
      expect(created.dialect).toBe('v1');
      const inc = await waitUntil(() => incomingByName(b, 'v1_ab'), { what: 'incoming on B' });
      expect(inc).toMatchObject({ dialect: 'v1', request_id: created.id, partner_key_fingerprint: null });
      await adminOk(b, 'POST', `/federation/incoming-requests/${inc.id}/accept`, { prefix: '62' }, 200);
      const pa = await waitUntil(() => peerRow(a, 'v1_ab'), { what: 'peer on A' });
      const pb = await waitUntil(() => peerRow(b, 'v1_ab'), { what: 'peer on B' });
      expect(pa.secret).toMatch(/^[A-Za-z0-9]{32}$/);
      expect(pb.secret).toBe(pa.secret);
      expect([pa.dialect, pb.dialect, pa.prefix, pb.prefix]).toEqual(['v1', 'v1', '61', '62']);
      expect(pb.partnerExtensionLength).toBe(4);
      expect(await outgoingByName(a, 'v1_ab')).toBeUndefined();

      const peer = await peerByName(a, 'v1_ab');
      await adminOk(a, 'DELETE', `/federation/peers/${peer?.id}`, undefined, 204);
      await waitUntil(async () => (await peerRow(b, 'v1_ab')) === undefined, { what: 'B tore down' });
    });

    it('B requests (v1), A accepts; teardown from B', async () => {
      await requestV1(b, a, 'v1_ba', '63');
      const inc = await waitUntil(() => incomingByName(a, 'v1_ba'), { what: 'incoming on A' });
      await adminOk(a, 'POST', `/federation/incoming-requests/${inc.id}/accept`, { prefix: '64' }, 200);
      const pb = await waitUntil(() => peerRow(b, 'v1_ba'), { what: 'peer on B' });
      expect((await peerRow(a, 'v1_ba'))?.secret).toBe(pb.secret);
      const peer = await peerByName(b, 'v1_ba');
      await adminOk(b, 'DELETE', `/federation/peers/${peer?.id}`, undefined, 204);
      await waitUntil(async () => (await peerRow(a, 'v1_ba')) === undefined, { what: 'A tore down' });
    });

    it('decline and revoke travel over v1 too', async () => {
      await requestV1(a, b, 'v1_dec', '65');
      const inc = await waitUntil(() => incomingByName(b, 'v1_dec'), { what: 'incoming on B' });
      await adminOk(b, 'POST', `/federation/incoming-requests/${inc.id}/decline`, {}, 204);
      const out = await waitUntil(
        async () => {
          const o = await outgoingByName(a, 'v1_dec');
          return o?.state === 'declined' ? o : undefined;
        },
        { what: 'A sees the decline' },
      );
      await adminOk(a, 'DELETE', `/federation/outgoing-requests/${out.id}`, undefined, 204);
      await adminOk(b, 'POST', `/federation/incoming-requests/${inc.id}/decline`, { local_only: true }, 204);

      const rev = await requestV1(a, b, 'v1_rev', '66');
      await waitUntil(() => incomingByName(b, 'v1_rev'), { what: 'incoming on B' });
      await adminOk(a, 'DELETE', `/federation/outgoing-requests/${rev.id}`, undefined, 204);
      await waitUntil(async () => (await incomingByName(b, 'v1_rev')) === undefined, { what: 'B forgot it' });
    });
  });

  describe('raw HTTP with stock µURU bodies against our /api/v1', () => {
    const uuruHost = 'http://uuru-partner.example:8000';
    const base = () => `${b.federationUrl}/api/v1`;

    it('incoming request: 200 {"status":"OK"} once stored, idempotent, 403/422 with {"detail"} otherwise', async () => {
      const id = crypto.randomUUID();
      const secret = uuruSecret();
      // IncomingPeeringRequest(...).model_dump(exclude_unset=True), as µURU's client posts it.
      const body = {
        id,
        name: 'uuru_raw',
        partner_uuru_host: uuruHost,
        partner_iax_host: '192.0.2.10',
        partner_extension_length: 4,
        secret,
        codec: 'g722',
      };
      expect(await call('POST', `${base()}/federation/incoming/request`, body)).toEqual({
        status: 200,
        json: { status: 'OK' },
      });
      const inc = await incomingByName(b, 'uuru_raw');
      expect(inc).toMatchObject({ dialect: 'v1', request_id: id, state: 'pending' });
      expect(await call('POST', `${base()}/federation/incoming/request`, body)).toEqual({
        status: 200,
        json: { status: 'OK' },
      });

      const conflict = await call('POST', `${base()}/federation/incoming/request`, {
        ...body,
        id: crypto.randomUUID(),
      });
      expect(conflict.status).toBe(403);
      expect(conflict.json).toEqual({ detail: expect.any(String) });

      const missing = await call('POST', `${base()}/federation/incoming/request`, { id, name: 'x' });
      expect(missing.status).toBe(422);
      expect(missing.json).toEqual({ detail: expect.any(String) });
      const badJson = await fetch(`${base()}/federation/incoming/request`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{',
      });
      expect(badJson.status).toBe(422);

      // Revoke: DELETE with ?secret=, 403 for a wrong secret or unknown id.
      const wrong = await call(
        'DELETE',
        `${base()}/federation/incoming/request/${id}?secret=${uuruSecret()}`,
      );
      expect(wrong).toEqual({ status: 403, json: { detail: 'Invalid secret!' } });
      expect(
        await call('DELETE', `${base()}/federation/incoming/request/${crypto.randomUUID()}?secret=${secret}`),
      ).toEqual({
        status: 403,
        json: { detail: 'Unknown request!' },
      });
      expect(await incomingByName(b, 'uuru_raw')).toBeDefined();
      expect(await call('DELETE', `${base()}/federation/incoming/request/${id}?secret=${secret}`)).toEqual({
        status: 200,
        json: { status: 'OK' },
      });
      expect(await incomingByName(b, 'uuru_raw')).toBeUndefined();
    });

    it('a hostile IAX2 host, partner address or id is refused with 422 {"detail"} and nothing is stored', async () => {
      const good = () => ({
        id: crypto.randomUUID(),
        name: 'uuru_hostile',
        partner_uuru_host: uuruHost,
        partner_iax_host: '192.0.2.10',
        partner_extension_length: 4,
        secret: uuruSecret(),
        codec: 'g722',
      });
      const before = await countRows(b, 'incoming_requests');
      const hostile: [string, string][] = [
        ...[
          'peer\r\nhost=10.6.6.6',
          '#include /etc/passwd',
          '${SHELL(id)}',
          '$[1+1]',
          '127.0.0.1\n[x]',
          '[::1',
          ' ',
          '',
          'ехаmple.org',
          'ｐｅｅｒ',
          '10.0.0.1:99999',
          'fe80::1%eth0',
        ].map((v): [string, string] => ['partner_iax_host', v]),
        ['partner_uuru_host', 'http://user:pass@uuru-partner.example:8000'],
        ['partner_uuru_host', 'http://uuru-partner.example:8000/?secret=x'],
        ['partner_uuru_host', 'http://uuru-pаrtner.example:8000'],
        ['id', 'a b'],
        ['id', '../../x'],
      ];
      for (const [field, value] of hostile) {
        const r = await call('POST', `${base()}/federation/incoming/request`, { ...good(), [field]: value });
        expect({ field, value, status: r.status }).toEqual({ field, value, status: 422 });
        expect(r.json).toEqual({ detail: expect.stringContaining(field) });
        expect(JSON.stringify(r.json)).not.toContain('user:pass');
      }
      expect(await incomingByName(b, 'uuru_hostile')).toBeUndefined();
      expect(await countRows(b, 'incoming_requests')).toBe(before);

      // The forms µURU may send are stored split into host and port (control).
      for (const [sent, host, port] of [
        ['192.0.2.10:4570', '192.0.2.10', 4570],
        ['[2001:db8::1]:4571', '2001:db8::1', 4571],
        ['2001:db8::2', '2001:db8::2', 4569],
        ['pbx.uuru-partner.example', 'pbx.uuru-partner.example', 4569],
      ] as const) {
        const body = { ...good(), partner_iax_host: sent };
        expect(await call('POST', `${base()}/federation/incoming/request`, body)).toEqual({
          status: 200,
          json: { status: 'OK' },
        });
        const [row] = await b.query<{ partnerIaxHost: string; partnerIaxPort: number | string }>(
          'SELECT partnerIaxHost, partnerIaxPort FROM {db}.incoming_requests WHERE requestId = ?',
          [body.id],
        );
        expect({ host: row.partnerIaxHost, port: Number(row.partnerIaxPort) }).toEqual({ host, port });
        expect(
          await call('DELETE', `${base()}/federation/incoming/request/${body.id}?secret=${body.secret}`),
        ).toEqual({ status: 200, json: { status: 'OK' } });
      }
    });

    it('a path parameter that is not valid percent-encoding is 422 {"detail"}, an undecodable body 415: never a 500', async () => {
      for (const [method, p] of [
        ['DELETE', '/federation/incoming/request/%?secret=x'],
        ['DELETE', '/federation/incoming/request/%zz?secret=x'],
        ['PUT', '/federation/outgoing/request/%'],
      ] as const) {
        const r = await call(
          method,
          `${base()}${p}`,
          method === 'PUT' ? { accept: false, secret: 'x' } : undefined,
        );
        expect({ method, p, ...r }).toEqual({
          method,
          p,
          status: 422,
          json: { detail: 'a path parameter is not valid percent-encoding' },
        });
      }
      const latin1 = await fetch(`${base()}/federation/incoming/request`, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=latin1' },
        body: '{}',
      });
      expect(latin1.status).toBe(415);
      expect(await latin1.json()).toEqual({ detail: expect.any(String) });
    });

    it('a refused request stores nothing (legacy disabled by policy: 403)', async () => {
      const policy = await adminOk<Record<string, unknown>>(b, 'GET', '/federation/policy', undefined, 200);
      await adminOk(b, 'PUT', '/federation/policy', { ...policy, allow_legacy: false }, 200);
      try {
        const r = await call('POST', `${base()}/federation/incoming/request`, {
          id: crypto.randomUUID(),
          name: 'uuru_off',
          partner_uuru_host: uuruHost,
          partner_iax_host: '192.0.2.10',
          partner_extension_length: 4,
          secret: uuruSecret(),
          codec: 'g722',
        });
        expect(r.status).toBe(403);
        expect(r.json).toEqual({ detail: expect.stringMatching(/legacy/) });
        expect(await incomingByName(b, 'uuru_off')).toBeUndefined();
      } finally {
        await adminOk(b, 'PUT', '/federation/policy', policy, 200);
      }
    });

    it('our v1 client sends µURU’s exact bodies; µURU’s accept and teardown bodies are answered as µURU would', async () => {
      const standIn = await startRecordingUuruStandIn();
      try {
        const created = await adminOk<{ id: string; dialect: string }>(
          b,
          'POST',
          '/federation/outgoing-requests',
          { name: 'uuru_out', partner_url: standIn.url, prefix: '67', codec: 'gsm' },
          201,
        );
        // No descriptor (404) and legacy allowed: auto picked v1.
        expect(created.dialect).toBe('v1');
        const posted = standIn.seen.find((r) => r.method === 'POST');
        expect(posted?.url).toBe('/api/v1/federation/incoming/request');
        expect(posted?.headers.authorization).toBeUndefined();
        expect(posted?.headers['content-type']).toMatch(/^application\/json/);
        const sent = posted?.body as Record<string, unknown>;
        expect(Object.keys(sent).sort()).toEqual(
          [
            'codec',
            'id',
            'name',
            'partner_extension_length',
            'partner_iax_host',
            'partner_uuru_host',
            'secret',
          ].sort(),
        );
        expect(sent).toEqual({
          id: created.id,
          name: 'uuru_out',
          partner_uuru_host: b.federationUrl,
          partner_iax_host: '127.0.0.1',
          partner_extension_length: 4,
          secret: expect.stringMatching(/^[A-Za-z0-9]{32}$/),
          codec: 'gsm',
        });
        const secret = String(sent.secret);

        // µURU (as B) accepts: OutgoingRequestStatus.model_dump(exclude_unset, exclude_none).
        const url = `${base()}/federation/outgoing/request/${created.id}`;
        expect(await call('PUT', url, { accept: true, secret })).toEqual({
          status: 400,
          json: { detail: expect.any(String) },
        });
        expect(
          await call('PUT', url, {
            accept: true,
            secret: uuruSecret(),
            extension_length: 3,
            partner_iax_host: '192.0.2.20',
            partner_uuru_host: standIn.url,
          }),
        ).toEqual({
          status: 403,
          json: { detail: 'Invalid secret!' },
        });
        // The accept carries µURU's IAX2 host and address: refused (422) when hostile, the request left pending.
        for (const bad of [
          { partner_iax_host: 'peer\r\nhost=10.6.6.6' },
          { partner_iax_host: '[::1' },
          { partner_uuru_host: 'http://user:pass@127.0.0.1:1' },
        ]) {
          const refused = await call('PUT', url, {
            accept: true,
            secret,
            extension_length: 3,
            partner_iax_host: '192.0.2.20',
            partner_uuru_host: standIn.url,
            ...bad,
          });
          expect(refused).toEqual({ status: 422, json: { detail: expect.any(String) } });
          expect(await peerRow(b, 'uuru_out')).toBeUndefined();
        }
        expect(await outgoingByName(b, 'uuru_out')).toMatchObject({ state: 'pending' });
        expect(
          await call('PUT', url, {
            accept: true,
            secret,
            extension_length: 3,
            partner_iax_host: '192.0.2.20',
            partner_uuru_host: standIn.url,
          }),
        ).toEqual({ status: 200, json: { status: 'OK' } });
        const peer = await peerRow(b, 'uuru_out');
        expect(peer).toMatchObject({
          dialect: 'v1',
          secret,
          partnerIaxHost: '192.0.2.20',
          partnerExtensionLength: 3,
          prefix: '67',
        });
        // The request is gone: a repeat is an unknown request, as in µURU.
        expect(
          await call('PUT', url, {
            accept: true,
            secret,
            extension_length: 3,
            partner_iax_host: '192.0.2.20',
            partner_uuru_host: standIn.url,
          }),
        ).toEqual({
          status: 403,
          json: { detail: 'Unknown request!' },
        });

        // Teardown from our side: {name, secret} to the partner.
        const view = await peerByName(b, 'uuru_out');
        await adminOk(b, 'DELETE', `/federation/peers/${view?.id}`, undefined, 204);
        const teardown = await waitUntil(
          async () => standIn.seen.find((r) => r.url === '/api/v1/federation/peer/teardown'),
          { what: 'teardown reached the stand-in' },
        );
        expect(teardown.method).toBe('POST');
        expect(teardown.body).toEqual({ name: 'uuru_out', secret });
      } finally {
        await standIn.close();
      }
    });

    it('teardown by µURU: found by name and secret, else 403', async () => {
      // A v1 peering between the two sidecars, then B's partner (A) is impersonated with the wrong secret.
      await adminOk(
        a,
        'POST',
        '/federation/outgoing-requests',
        { name: 'v1_td', partner_url: b.federationUrl, prefix: '68', codec: 'ulaw', dialect: 'v1' },
        201,
      );
      const inc = await waitUntil(() => incomingByName(b, 'v1_td'), { what: 'incoming on B' });
      await adminOk(b, 'POST', `/federation/incoming-requests/${inc.id}/accept`, { prefix: '69' }, 200);
      const pa = await waitUntil(() => peerRow(a, 'v1_td'), { what: 'peer on A' });
      const wrong = await call('POST', `${base()}/federation/peer/teardown`, {
        name: 'v1_td',
        secret: uuruSecret(),
      });
      expect(wrong).toEqual({ status: 403, json: { detail: 'Unknown peer!' } });
      expect(await peerRow(b, 'v1_td')).toBeDefined();
      expect(
        await call('POST', `${base()}/federation/peer/teardown`, { name: 'v1_td', secret: pa.secret }),
      ).toEqual({
        status: 200,
        json: { status: 'OK' },
      });
      expect(await peerRow(b, 'v1_td')).toBeUndefined();
      await adminOk(a, 'DELETE', `/federation/peers/${pa.id}?local_only=true`, undefined, 204);
    });

    it('phonebook: µURU fields, public entries only, never unfederated numbers', async () => {
      const r = await call('GET', `${base()}/extension/phonebook`);
      expect(r.status).toBe(200);
      expect(r.json).toEqual([
        {
          extension: '2001',
          name: 'Kitchen, ground floor',
          type: 'SIP',
          public: true,
          location_name: 'Hall A',
          lat: 525200000,
          lon: 134050000,
        },
        {
          extension: '2003',
          name: 'Info',
          type: 'DECT',
          public: true,
          location_name: null,
          lat: null,
          lon: null,
        },
      ]);
    });
  });
});
