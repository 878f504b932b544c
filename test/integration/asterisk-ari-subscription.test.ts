/**
 * A fresh Asterisk has no endpoint:IAX2 event source until its first IAX2
 * peer exists, so the ARI client cannot subscribe at connect. The Asterisk
 * feature subscribes right after a reconcile has applied a peer; this proves
 * it does (the client's own retry is pushed ten minutes away, so it cannot be
 * what subscribed) and that PeerStatusChange events then reach the monitor.
 */
import { AriClient, type AriEvent } from '../../src/asterisk/ari-client';
import { type AsteriskInstance, startAsterisk } from '../harness/asterisk';
import { freeUdpPort } from '../harness/ports';
import { captureLogger } from '../harness/test-logger';
import { nextEvent } from '../harness/wait';
import { insertPeer, sharedSecret, type Sidecar, startSidecar } from './asterisk-fixtures';
import { waitUntil } from '../harness/wait';

jest.setTimeout(120_000);

const TEN_MINUTES = 10 * 60 * 1000;

let A: AsteriskInstance;
let B: AsteriskInstance | null = null;
let sa: Sidecar;
let ari: AriClient;

beforeAll(async () => {
  A = await startAsterisk({ name: 'arisub' });
  ari = new AriClient({
    url: A.ariUrl,
    username: A.ariUser,
    password: A.ariPassword,
    app: `uuru-fed-${A.id}`,
    logger: captureLogger('warn').logger,
    reconnect: { initialMs: 100, maxMs: 1000 },
    subscribeRetry: { initialMs: TEN_MINUTES, maxMs: TEN_MINUTES },
  });
  sa = await startSidecar(A, {}, { ari });
  await ari.whenConnected(15_000);
});

afterAll(async () => {
  await Promise.allSettled([sa?.stop()]);
  await Promise.allSettled([A?.stop(), B?.stop()]);
});

it('subscribes to endpoint:IAX2 once the first peer is applied, and PeerStatusChange reaches the monitor', async () => {
  // No IAX2 peer yet: nothing to subscribe to.
  expect(ari.subscribedToIax).toBe(false);
  expect(sa.feature.monitorEvents().ari).toBe(0);

  const isPeer = (e: AriEvent) =>
    (e.endpoint as { resource?: string } | undefined)?.resource === 'first_peer';
  const status = (wanted: string) =>
    nextEvent<AriEvent>(
      ari,
      'PeerStatusChange',
      (e) => isPeer(e) && (e.peer as { peer_status?: string } | undefined)?.peer_status === wanted,
      30_000,
    );
  const unreachable = status('Unreachable');

  // The partner's Asterisk is not running yet; its port is reserved so the peer can point at it.
  const bPort = await freeUdpPort();
  await insertPeer(sa.db, { name: 'first_peer', prefix: '55', port: bPort, secret: sharedSecret() });
  const report = await sa.feature.reconcile('test: first peer');
  expect(report?.applied).toEqual(['first_peer']);

  await waitUntil(() => ari.subscribedToIax, {
    what: 'ARI subscribed to endpoint:IAX2 after the apply',
    timeoutMs: 5_000,
    intervalMs: 50,
  });

  // Nothing answers the qualify probes yet: Asterisk reports the peer unreachable...
  await unreachable;
  await waitUntil(() => sa.feature.monitorEvents().ari > 0, {
    what: 'the monitor counted the ARI event',
    timeoutMs: 5_000,
    intervalMs: 50,
  });
  // ...and reachable once the partner's Asterisk runs.
  const reachable = status('Reachable');
  B = await startAsterisk({ name: 'arisubb', iaxPort: bPort });
  await reachable;
  await waitUntil(() => sa.feature.monitorEvents().ari > 1, {
    what: 'the monitor counted both',
    timeoutMs: 5_000,
    intervalMs: 50,
  });
  await waitUntil(
    async () => {
      const rows = await sa.db.query<{ reachability: string }[]>(
        "SELECT reachability FROM peers WHERE name = 'first_peer'",
      );
      return rows[0]?.reachability === 'reachable';
    },
    { what: 'the monitor wrote the peer reachable', timeoutMs: 10_000 },
  );
});
