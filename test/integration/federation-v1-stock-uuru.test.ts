/**
 * v1 as stock µURU really behaves (issue 11), over real HTTP against real
 * sidecar processes (SQLite), with the bodies stock µURU posts:
 *
 * - µURU ignores unknown fields and has added fields before (`codec`): a
 *   request with a field we do not know is taken, not refused with 422.
 * - µURU accepts names of Unicode word characters (pydantic `^\w+$` on the
 *   Rust engine, 40 characters in iaxfriends.name): such a name is stored as
 *   it is and shown with its ASCII-safe Asterisk name.
 * - The unsolicited budget counts only pending requests: a partner whose
 *   requests were revoked (or declined) may ask again.
 * - v1 cannot carry an IAX2 port: on a port other than 4569 a v1 request is
 *   refused both ways (403 with the reason to a µURU sender,
 *   FED_V1_IAX2_PORT to our admin), and nothing is stored or sent.
 */
import crypto from 'node:crypto';
import {
  adminOk,
  countRows,
  destroyAll,
  incomingByName,
  startSidecar,
  type Sidecar,
} from '../harness/sidecar';

const uuruSecret = (): string => {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(crypto.randomBytes(32), (b) => abc[b % 62]).join('');
};

async function call(method: string, url: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as unknown) : null };
}

const BUDGET = 2;
let b: Sidecar;
let odd: Sidecar;

beforeAll(async () => {
  [b, odd] = await Promise.all([
    startSidecar({
      name: 'v1stock_b',
      db: 'sqlite',
      config: { federation: { unsolicitedRequestsPerOriginPerHour: BUDGET } },
    }),
    startSidecar({ name: 'v1stock_odd', db: 'sqlite', env: { UURU_FEDERATION_IAX2_PORT: '4570' } }),
  ]);
}, 120_000);

afterAll(async () => {
  await destroyAll([b, odd]);
});

/** IncomingPeeringRequest(...).model_dump(exclude_unset=True), as stock µURU posts it. */
const uuruRequest = (name: string, host: string) => ({
  id: crypto.randomUUID(),
  name,
  partner_uuru_host: host,
  partner_iax_host: '192.0.2.10',
  partner_extension_length: 4,
  secret: uuruSecret(),
  codec: 'g722',
});

it('ignores fields it does not know, as µURU does', async () => {
  const body = { ...uuruRequest('uuru_newer', 'http://newer.example:8000'), ringtone: 'bell', priority: 3 };
  expect(await call('POST', `${b.federationUrl}/api/v1/federation/incoming/request`, body)).toEqual({
    status: 200,
    json: { status: 'OK' },
  });
  expect(await incomingByName(b, 'uuru_newer')).toMatchObject({ dialect: 'v1', state: 'pending' });
  // The status update (B → A) ignores unknown fields too: it gets as far as the unknown id.
  const status = await call(
    'PUT',
    `${b.federationUrl}/api/v1/federation/outgoing/request/${crypto.randomUUID()}`,
    {
      accept: false,
      secret: uuruSecret(),
      reason: 'new field',
    },
  );
  expect(status).toEqual({ status: 403, json: { detail: 'Unknown request!' } });
});

it('takes the Unicode names µURU takes and shows the ASCII name Asterisk knows the dial plan by', async () => {
  const name = 'Grüße_Ωmega';
  expect(
    await call(
      'POST',
      `${b.federationUrl}/api/v1/federation/incoming/request`,
      uuruRequest(name, 'http://unicode.example'),
    ),
  ).toEqual({ status: 200, json: { status: 'OK' } });
  const inc = (await incomingByName(b, name)) as unknown as { name: string; asterisk_name: string };
  expect(inc.name).toBe(name);
  expect(inc.asterisk_name).toMatch(/^Grue_mega-[0-9a-f]{10}$/);
  // 40 characters is µURU's bound (iaxfriends.name); 41 is refused, as a name that would not fit a section name.
  const forty = 'ä'.repeat(39) + 'x';
  expect(Buffer.byteLength(forty)).toBe(79);
  const ok = await call(
    'POST',
    `${b.federationUrl}/api/v1/federation/incoming/request`,
    uuruRequest(forty, 'http://forty.example'),
  );
  expect(ok.status).toBe(200);
  for (const bad of ['a'.repeat(41), '中'.repeat(27), 'has space', 'new\nline', 'semi;colon', 'GENERAL']) {
    const r = await call(
      'POST',
      `${b.federationUrl}/api/v1/federation/incoming/request`,
      uuruRequest(bad, 'http://bad.example'),
    );
    expect(r.status).toBe(422);
    expect(r.json).toEqual({ detail: expect.stringContaining('name') });
  }
});

it('counts only pending requests against the unsolicited budget: revoked ones free their place', async () => {
  const host = 'http://retry.example:8000';
  for (let i = 0; i < BUDGET + 2; i++) {
    const body = uuruRequest(`retry_${i}`, host);
    const sent = await call('POST', `${b.federationUrl}/api/v1/federation/incoming/request`, body);
    expect(sent).toEqual({ status: 200, json: { status: 'OK' } });
    const q = new URLSearchParams({ secret: body.secret }).toString();
    const revoked = await call(
      'DELETE',
      `${b.federationUrl}/api/v1/federation/incoming/request/${body.id}?${q}`,
    );
    expect(revoked).toEqual({ status: 200, json: { status: 'OK' } });
  }
});

it('refuses v1 on an IAX2 port other than 4569, both ways, and stores and sends nothing', async () => {
  const before = await countRows(odd, 'incoming_requests');
  const inbound = await call(
    'POST',
    `${odd.federationUrl}/api/v1/federation/incoming/request`,
    uuruRequest('uuru_port', 'http://port.example'),
  );
  expect(inbound.status).toBe(403);
  expect(inbound.json).toEqual({ detail: expect.stringMatching(/IAX2 port is 4570.*cannot carry a port/) });
  expect(await countRows(odd, 'incoming_requests')).toBe(before);

  const created = await odd.admin('POST', '/federation/outgoing-requests', {
    name: 'to_uuru',
    partner_url: b.federationUrl,
    prefix: '61',
    codec: 'alaw',
    dialect: 'v1',
  });
  expect(created.status).toBe(409);
  expect(created.json).toMatchObject({ error: 'FED_V1_IAX2_PORT' });
  expect(await countRows(odd, 'outgoing_requests')).toBe(0);
  expect(await incomingByName(b, 'to_uuru')).toBeUndefined();
  // uuru-fed/2 carries the port: the same partner is reachable that way.
  await adminOk(
    odd,
    'POST',
    '/federation/outgoing-requests',
    { name: 'to_b_v2', partner_url: b.federationUrl, prefix: '62', codec: 'alaw' },
    201,
  );
});
