/**
 * Anti-entropy repairs a half-peering: B accepted while A was down and B's
 * admin purged the accept from A's queue (the outbox itself never gives up on
 * a partner that is merely unreachable since issue 14; a purge is how an
 * accept is given up now). When A is back, B's anti-entropy asks A about the
 * peering, learns it is still pending there, and sends the accept again: the
 * peering completes on both sides. Once on SQLite and once on MariaDB.
 */
import {
  adminOk,
  destroyAll,
  incomingByName,
  peerByName,
  peerRow,
  startSidecar,
  type Sidecar,
} from '../harness/sidecar';
import { parseExposition, samplesOf } from '../harness/prometheus-text';
import { waitUntil } from '../harness/wait';

/** uuru_fed_partner_checks_total of a peer on a sidecar's /metrics. */
async function partnerChecks(s: Sidecar, peer: string, result: 'ok' | 'error'): Promise<number> {
  const text = await (await fetch(`${s.adminUrl}/metrics`)).text();
  return samplesOf(parseExposition(text), 'uuru_fed_partner_checks_total', { peer, result })[0]?.value ?? NaN;
}

describe.each(['sqlite', 'mariadb'] as const)('anti-entropy (%s)', (db) => {
  let a: Sidecar;
  let b: Sidecar;

  beforeAll(async () => {
    const config = {
      jobs: { outboxPollMs: 100, antiEntropyCron: '* * * * * *' },
      federation: { outboxRetryBaseMs: 200, outboxRetryMaxMs: 500 },
    };
    [a, b] = await Promise.all([
      startSidecar({ name: `aea_${db}`, db, config }),
      startSidecar({ name: `aeb_${db}`, db, config }),
    ]);
  }, 120_000);

  afterAll(async () => {
    await destroyAll([a, b]);
  });

  it('resends an accept the admin purged from the queue, once the partner is back', async () => {
    await adminOk(
      a,
      'POST',
      '/federation/outgoing-requests',
      { name: 'ae_lost', partner_url: b.federationUrl, prefix: '71', codec: 'g722' },
      201,
    );
    const inc = await waitUntil(() => incomingByName(b, 'ae_lost'), { what: 'incoming on B' });
    await a.kill();
    await adminOk(b, 'POST', `/federation/incoming-requests/${inc.id}/accept`, { prefix: '72' }, 200);
    const aServer = new URL(a.federationUrl).host;
    const purged = await adminOk<{ purged: number }>(
      b,
      'POST',
      `/federation/partners/${encodeURIComponent(aServer)}/queue/purge`,
      {},
      200,
    );
    expect(purged.purged).toBe(1);
    const givenUp = await waitUntil(
      async () => {
        const p = await peerByName(b, 'ae_lost');
        return p &&
          p.pending_deliveries === 0 &&
          p.partner_error?.startsWith('the partner was not told of the accept')
          ? p
          : undefined;
      },
      { what: 'B gave up delivering the accept', timeoutMs: 20_000 },
    );
    expect(givenUp.partner_error).toBe('the partner was not told of the accept: purged by an admin');
    expect(givenUp.partner_error_at).not.toBeNull();
    // The derived field older clients read carries it too.
    expect(givenUp.last_error).toBe(givenUp.partner_error);
    expect(givenUp.state).toBe('active');
    // Anti-entropy's questions to the stopped A fail, and are counted as such.
    expect(await partnerChecks(b, 'ae_lost', 'ok')).toBe(0);
    await waitUntil(async () => (await partnerChecks(b, 'ae_lost', 'error')) > 0, {
      what: 'B counts failed checks of A',
    });

    await a.restart();
    const pa = await waitUntil(() => peerRow(a, 'ae_lost'), {
      what: 'A completed the peering',
      timeoutMs: 20_000,
    });
    expect((await peerRow(b, 'ae_lost'))?.secret).toBe(pa.secret);
    await waitUntil(async () => (await peerByName(b, 'ae_lost'))?.partner_error === null, {
      what: 'the error on B is cleared',
    });
    expect(await partnerChecks(b, 'ae_lost', 'ok')).toBeGreaterThan(0);
  });
});
