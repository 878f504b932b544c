/**
 * One writer per column on the peers table, where two layers report on one
 * peer: the Asterisk monitor writes the link's error, the protocol's
 * anti-entropy the partner's, and neither erases the other's (they once
 * shared last_error, and whichever wrote last won). Real SQLite, the real
 * monitor and anti-entropy; only the AMI link and the partner are stand-ins.
 */
import { PeerRunRows } from '../../src/store/peer-rows';
import { PeerMonitor } from '../../src/asterisk/peer-monitor';
import { ManualClock } from '../harness/manual-clock';
import { Metrics } from '../../src/core/metrics';
import { AntiEntropy } from '../../src/federation/anti-entropy';
import { Outbox } from '../../src/federation/outbox';
import { PartnerTransport } from '../../src/federation/partner-transport';
import { TypeormOutboxStore, TypeormPeeringStore, TypeormTransactions } from '../../src/store/typeorm';
import { createLogger } from '../../src/logging/logger';
import { PeerEntity } from '../../src/store/entities';
import { newPeerRow } from '../harness/peer-row';
import { DownAmiLink } from './fixtures/down-links';
import { useTempSqlite } from './fixtures/temp-sqlite';

describe('errors on a peer, one writer each', () => {
  const clock = new ManualClock();
  const logger = createLogger({ level: 'error', format: 'json', silent: true });
  const tmp = useTempSqlite('owners');

  it("the partner's recovery clears the partner's error and leaves the link's; the monitor never touches the partner's", async () => {
    const { db } = tmp;
    const forgotten = clock.now() - 60_000;
    const peer = newPeerRow(
      {
        name: 'owners',
        prefix: '77',
        partnerUrl: 'https://partner.example',
        partnerIaxHost: '192.0.2.7',
        partnerIaxPort: 4569,
        codec: 'ulaw',
        secret: 'x'.repeat(40),
        dialect: 'v2',
        role: 'requester',
        state: 'partner_missing',
        partnerError: 'the partner reports this peering as unknown',
        partnerErrorAt: forgotten,
      },
      forgotten,
    );
    await db.getRepository(PeerEntity).insert(peer);
    const row = () => db.getRepository(PeerEntity).findOneByOrFail({ id: peer.id });

    const monitor = new PeerMonitor({
      rows: new PeerRunRows(db),
      ami: new DownAmiLink(),
      clock,
      logger,
      metrics: new Metrics(),
      pollMs: 60_000,
      monitorable: true,
    });
    await monitor.pollOnce();
    expect(await row()).toMatchObject({
      linkError: 'Asterisk is not connected',
      linkErrorAt: clock.now(),
      partnerError: 'the partner reports this peering as unknown',
      partnerErrorAt: forgotten,
      // The protocol's time of its last change to the peering: the monitor has its own times.
      updatedAt: forgotten,
    });

    const partnerAnswers = { state: 'active' };
    const antiEntropy = new AntiEntropy({
      peerings: new TypeormPeeringStore(db),
      transport: new PartnerTransport({
        signed: {
          send: async () => ({ status: 200, json: { request_id: peer.requestId, ...partnerAnswers } }),
        },
        fetch,
        timeoutMs: 1000,
      }),
      outbox: new Outbox({ store: new TypeormOutboxStore(db), clock }),
      tx: new TypeormTransactions(db),
      clock,
      logger,
      metrics: new Metrics(),
    });
    clock.advance(1000);
    expect(await antiEntropy.run()).toMatchObject({ recovered: 1 });
    expect(await row()).toMatchObject({
      state: 'active',
      partnerError: null,
      partnerErrorAt: null,
      linkError: 'Asterisk is not connected',
      linkErrorAt: clock.now() - 1000,
    });

    partnerAnswers.state = 'unknown';
    clock.advance(1000);
    expect(await antiEntropy.run()).toMatchObject({ markedMissing: 1 });
    await monitor.pollOnce();
    expect(await row()).toMatchObject({
      state: 'partner_missing',
      partnerError: expect.stringMatching(/^the partner reports this peering as unknown/),
      partnerErrorAt: clock.now(),
      linkError: 'Asterisk is not connected',
    });
  });
});
