/**
 * An admin's new outgoing request to a partner this instance pinned a short
 * while ago (within the descriptor's cache lifetime) goes out on the pinned
 * descriptor: one round trip (the request itself), not a descriptor fetch
 * first. Two real sidecar processes on loopback; the descriptor fetches are
 * counted by the partner's own uuru_fed_federation_requests_total.
 */
import { adminOk, destroyAll, incomingByName, startSidecar, type Sidecar } from '../harness/sidecar';
import { waitUntil } from '../harness/wait';

const timings = {
  jobs: { outboxPollMs: 100 },
  federation: { outboxRetryBaseMs: 200, outboxRetryMaxMs: 1000, unsolicitedRequestsPerOriginPerHour: 100 },
};

describe('v2 create to a known partner', () => {
  let a: Sidecar;
  let b: Sidecar;

  beforeAll(async () => {
    [a, b] = await Promise.all([
      startSidecar({ name: 'known_a', config: timings }),
      startSidecar({ name: 'known_b', config: timings }),
    ]);
  }, 120_000);

  afterAll(async () => {
    await destroyAll([a, b]);
  });

  /** How often B answered its descriptor. */
  const descriptorFetches = async (): Promise<number> => {
    const text = await (await fetch(`${b.adminUrl}/metrics`)).text();
    const line = text
      .split('\n')
      .find(
        (l) =>
          l.startsWith('uuru_fed_federation_requests_total{') &&
          l.includes('endpoint="descriptor"') &&
          l.includes('code="OK"'),
      );
    return line ? Number(line.split(' ').pop()) : 0;
  };

  const create = (name: string, prefix: string) =>
    adminOk<{ id: string; state: string; dialect: string }>(
      a,
      'POST',
      '/federation/outgoing-requests',
      { name, partner_url: b.federationUrl, prefix, codec: 'ulaw' },
      201,
    );

  it('the first request fetches the descriptor; the next one is sent on the pinned one and arrives', async () => {
    const before = await descriptorFetches();
    const first = await create('known_one', '61');
    expect(first.dialect).toBe('v2');
    expect(await descriptorFetches()).toBe(before + 1);
    await waitUntil(() => incomingByName(b, 'known_one'), { what: 'known_one on B' });
    // Revoked: the partner stays pinned, no peering holds it.
    await adminOk(a, 'DELETE', `/federation/outgoing-requests/${first.id}`, undefined, 204);
    await waitUntil(
      async () => {
        const left = await incomingByName(b, 'known_one');
        return !left || left.state !== 'pending';
      },
      { what: 'known_one no longer pending on B' },
    );

    const second = await create('known_two', '62');
    expect(second).toMatchObject({ dialect: 'v2', state: 'pending' });
    expect(await descriptorFetches()).toBe(before + 1);
    const arrived = await waitUntil(() => incomingByName(b, 'known_two'), { what: 'known_two on B' });
    expect(arrived.state).toBe('pending');
  });
});
