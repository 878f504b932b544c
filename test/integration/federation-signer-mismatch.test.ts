/**
 * A signed call that a third instance C makes about A's records at B, with
 * C's own (valid, published) key: B refuses it with FED_SIGNER_MISMATCH, its
 * own code, not FED_DESTINATION_MISMATCH (which protocol.md keeps for a
 * request signed for another host), in the answer and in B's metrics, and
 * nothing changes. Three real sidecars over real HTTP; C signs with the key
 * read from its own database.
 */
import crypto from 'node:crypto';
import { signRequest, type SigningKey } from '../../src/federation/http-signature';
import {
  activeKeys,
  adminOk,
  countRows,
  destroyAll,
  incomingByName,
  startSidecar,
  type Sidecar,
} from '../harness/sidecar';

jest.setTimeout(180_000);

describe('a request signed with a key that is not the claimed partner’s', () => {
  let a: Sidecar;
  let b: Sidecar;
  let c: Sidecar;
  let cKey: SigningKey;
  let cAgreementKid: string;

  beforeAll(async () => {
    [a, b, c] = await Promise.all(
      ['sm_a', 'sm_b', 'sm_c'].map((name) => startSidecar({ name, config: { jobs: { outboxPollMs: 100 } } })),
    );
    ({ signing: cKey, agreementKid: cAgreementKid } = await activeKeys(c));
    await adminOk(
      a,
      'POST',
      '/federation/outgoing-requests',
      { name: 'sm_ab', partner_url: b.federationUrl, prefix: '71', codec: 'g722' },
      201,
    );
  }, 180_000);

  afterAll(() => destroyAll([a, b, c]));

  const signedByC = async (method: string, path: string, body?: unknown) => {
    const url = `${b.federationUrl}${path}`;
    const text = body === undefined ? undefined : JSON.stringify(body);
    const headers = signRequest({ method, url, body: text, key: cKey, now: Date.now() });
    const res = await fetch(url, { method, headers, body: text });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };

  const metric = async (name: string, labels: string): Promise<number> => {
    const text = await (await fetch(`${b.adminUrl}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
    return line ? Number(line.split(' ').pop()) : 0;
  };

  it('revoking A’s pending request with C’s key: 401 FED_SIGNER_MISMATCH, the request stays', async () => {
    const incoming = await incomingByName(b, 'sm_ab');
    expect(incoming?.state).toBe('pending');
    const r = await signedByC('DELETE', `/federation/v2/peering-requests/${incoming?.request_id}`);
    expect(r.status).toBe(401);
    expect(r.json.error).toBe('FED_SIGNER_MISMATCH');
    expect(String(r.json.message)).toContain(new URL(c.federationUrl).host);
    expect((await incomingByName(b, 'sm_ab'))?.state).toBe('pending');
  });

  it('a peering request claiming to come from A (base_url) signed by C: FED_SIGNER_MISMATCH, nothing stored', async () => {
    const before = await countRows(b, 'incoming_requests');
    const r = await signedByC('POST', '/federation/v2/peering-requests', {
      request_id: crypto.randomUUID(),
      name: 'sm_forged',
      codec: 'g722',
      extension_length: 4,
      base_url: a.federationUrl,
      iax2: { host: '127.0.0.1', port: 4569 },
      agreement_kid: cAgreementKid,
    });
    expect({ status: r.status, error: r.json.error }).toEqual({ status: 401, error: 'FED_SIGNER_MISMATCH' });
    expect(await countRows(b, 'incoming_requests')).toBe(before);
  });

  it('is counted under its own code in the signature-failure and request metrics', async () => {
    expect(await metric('uuru_fed_signature_failures_total', 'reason="FED_SIGNER_MISMATCH"')).toBe(2);
    expect(await metric('uuru_fed_signature_failures_total', 'reason="FED_DESTINATION_MISMATCH"')).toBe(0);
    expect(
      await metric('uuru_fed_federation_requests_total', 'endpoint="revoke",code="FED_SIGNER_MISMATCH"'),
    ).toBe(1);
    expect(
      await metric(
        'uuru_fed_federation_requests_total',
        'endpoint="peering-requests",code="FED_SIGNER_MISMATCH"',
      ),
    ).toBe(1);
  });
});
