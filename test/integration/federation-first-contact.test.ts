/**
 * The requester pins the partner's keys with its outgoing request and drops
 * them again when the partner refuses (here: B's policy is closed).
 *
 * A first peering request pins the sender's keys (a Partner row) in the same
 * transaction that stores the request: a request refused after admission
 * (here: an agreement key the sender does not publish) leaves no Partner row
 * behind, and a good one stores both. The test signs as A with A's real key
 * (read from A's database) against a real sidecar B. SQLite and MariaDB.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { signRequest } from '../../src/federation/http-signature';
import { activeKeys, adminOk, countRows, destroyAll, startSidecar, type Sidecar } from '../harness/sidecar';

jest.setTimeout(120_000);

describe.each(['sqlite', 'mariadb'] as const)('first contact (%s)', (db) => {
  let a: Sidecar;
  let b: Sidecar;
  let key: { keyId: string; privateKey: KeyObject };
  let agreementKid: string;

  beforeAll(async () => {
    [a, b] = await Promise.all([
      startSidecar({ name: `fca_${db}`, db }),
      startSidecar({ name: `fcb_${db}`, db }),
    ]);
    ({ signing: key, agreementKid } = await activeKeys(a));
  }, 120_000);

  afterAll(() => destroyAll([a, b]));

  async function request(kid: string): Promise<{ status: number; json: Record<string, unknown> }> {
    const url = `${b.federationUrl}/federation/v2/peering-requests`;
    const body = JSON.stringify({
      request_id: crypto.randomUUID(),
      name: 'first_contact',
      codec: 'g722',
      extension_length: 4,
      base_url: a.federationUrl,
      iax2: { host: '127.0.0.1', port: 4569 },
      agreement_kid: kid,
    });
    const headers = signRequest({ method: 'POST', url, body, key, now: Date.now() });
    const res = await fetch(url, { method: 'POST', headers, body });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  it("the requester pins the partner's keys only with a request the partner took: a refused one leaves no Partner row", async () => {
    await adminOk(
      b,
      'PUT',
      '/federation/policy',
      { mode: 'closed', allowed_peers: [], blocked_peers: [], allow_legacy: true, unfederated_numbers: [] },
      200,
    );
    const refused = await a.admin('POST', '/federation/outgoing-requests', {
      name: 'refused_by_b',
      partner_url: b.federationUrl,
      prefix: '71',
      codec: 'g722',
      dialect: 'v2',
    });
    expect(refused.status).toBe(403);
    expect(refused.json).toMatchObject({ error: 'FED_POLICY_DENIED' });
    expect(await countRows(a, 'partners')).toBe(0);
    expect(await countRows(a, 'outgoing_requests')).toBe(0);
    await adminOk(
      b,
      'PUT',
      '/federation/policy',
      { mode: 'open', allowed_peers: [], blocked_peers: [], allow_legacy: true, unfederated_numbers: [] },
      200,
    );
  });

  it('a refused first request leaves no Partner row; an accepted one pins the partner with the request', async () => {
    const refused = await request('x25519-not-published');
    expect(refused.status).toBe(400);
    expect(refused.json.error).toBe('FED_MALFORMED');
    expect(String(refused.json.message)).toContain('agreement_kid');
    expect(await countRows(b, 'partners')).toBe(0);
    expect(await countRows(b, 'incoming_requests')).toBe(0);

    const stored = await request(agreementKid);
    expect(stored.status).toBe(201);
    expect(await countRows(b, 'partners')).toBe(1);
    expect(await countRows(b, 'incoming_requests')).toBe(1);
    const [partner] = await b.query<{ serverName: string }>('SELECT serverName FROM {db}.partners');
    expect(partner.serverName).toBe(new URL(a.federationUrl).host);
  });
});
