/**
 * Drift that does not come through the sidecar, against two real Asterisk
 * instances: a dial plan reload by someone else, a dial plan edit made only
 * on the Asterisk CLI, and a hand-written iax.conf peer with the name of a
 * federation peer. The scheduled reconcile is switched off (far away), so
 * whatever repairs the drift here is the event or the admin's reconcile.
 * Last, a slow path to the partner (a fault-injecting UDP relay: loopback
 * cannot be slow on demand) shows as lagged, with its latency.
 */
import fs from 'node:fs';
import path from 'node:path';
import { EXTENSIONS_FILE, IAX_FILE } from '../../src/asterisk/files-renderer';
import { PeerEntity } from '../../src/store/entities';
import { type AsteriskInstance, startAsterisk } from '../harness/asterisk';
import { startUdpDelayRelay } from '../harness/udp-delay-relay';
import {
  LOCAL_CONTEXT,
  LOCAL_DIALPLAN,
  TEST_EXTENSION,
  type Sidecar,
  dial,
  insertPeer,
  peerLatencySeconds,
  peerRow,
  peerStatesOn,
  sharedSecret,
  startSidecar,
} from './asterisk-fixtures';
import { waitUntil } from '../harness/wait';

jest.setTimeout(120_000);

/** A hand-written peer on A whose name a federation peer will try to take, in a file iax.conf includes. */
const CLASH_PORT = 4998;
const HANDWRITTEN_INCLUDED = ['[Clash]', 'type=friend', 'host=127.0.0.1', `port=${CLASH_PORT}`, ''].join(
  '\n',
);

let A: AsteriskInstance;
let B: AsteriskInstance;
let sa: Sidecar;
let sb: Sidecar;
const secret = sharedSecret();

beforeAll(async () => {
  [A, B] = await Promise.all([
    startAsterisk({
      name: 'da',
      // A template of the same name is not a peer and must not count as a clash.
      iaxConf: '[drift_tpl](!)\ntype=friend\n\n#tryinclude handwritten-*.conf\n',
      extensionsConf: LOCAL_DIALPLAN,
    }),
    startAsterisk({ name: 'db', extensionsConf: LOCAL_DIALPLAN }),
  ]);
  [sa, sb] = await Promise.all([startSidecar(A), startSidecar(B)]);
  await insertPeer(sa.db, { name: 'drift_ab', prefix: '55', port: B.iaxPort, secret });
  await insertPeer(sb.db, { name: 'drift_ab', prefix: '66', port: A.iaxPort, secret });
  await insertPeer(sa.db, { name: 'drift_tpl', prefix: '57', port: B.iaxPort, secret });
  await Promise.all([sa.feature.port.syncPeers('test'), sb.feature.port.syncPeers('test')]);
  expect((await peerRow(sa.db, 'drift_ab')).applyState).toBe('applied');
  expect((await peerRow(sa.db, 'drift_tpl')).applyState).toBe('applied');
});

afterAll(async () => {
  await Promise.allSettled([sa?.stop(), sb?.stop()]);
  await Promise.allSettled([A?.stop(), B?.stop()]);
});

const callAB = () => dial(sa.ami, `55${TEST_EXTENSION}`);

it('a dial plan reload by someone else (module reload) is noticed and a hand edit it loaded is repaired', async () => {
  const extFile = path.join(A.configDir, EXTENSIONS_FILE);
  const good = fs.readFileSync(extFile, 'utf8');
  expect(await callAB()).toBe(true);
  fs.writeFileSync(extFile, good.replace(/^exten => _55X+,.*$/m, ''));
  await A.cli('module reload pbx_config.so');
  // Nothing here asks for a run: the sidecar sees a Reload it did not cause, re-reads and repairs.
  await waitUntil(async () => fs.readFileSync(extFile, 'utf8') === good, {
    what: 'the generated dial plan file to be restored',
  });
  await waitUntil(callAB, {
    what: 'the call through the prefix to work again',
    timeoutMs: 20_000,
    intervalMs: 500,
  });
});

it("a dial plan edit made only on the Asterisk CLI is caught by the admin's reconcile now", async () => {
  const pattern = `_55${'X'.repeat(4)}`;
  const context = `${LOCAL_CONTEXT}-federation`;
  // The repair of the test before may still have a run in flight (the file watch and the foreign Reload event
  // both ask for one): start from a settled sidecar, so what the quick run below reloads is its own doing.
  await waitUntil(
    async () => (await sa.feature.port.reconcileNow('admin', { verify: 'changed' })).reloaded.length === 0,
    { what: 'a quick reconcile with nothing to do' },
  );
  expect(await A.cli(`dialplan show ${context}`)).toContain(pattern);
  // In memory only: the file stays as it was and Asterisk raises no event.
  await A.cli(`dialplan remove extension ${pattern}@${context}`);
  expect(await A.cli(`dialplan show ${context}`)).not.toContain(pattern);
  expect(await callAB()).toBe(false);

  // Reading back only what may have changed does not see it: nothing changed on the sidecar's side.
  const quick = await sa.feature.port.reconcileNow('admin', { verify: 'changed' });
  expect(quick.result).toBe('done');
  expect(quick.reloaded).toEqual([]);

  // The default reads the whole dial plan back, finds the missing step and makes Asterisk re-read the file.
  const full = await sa.feature.port.reconcileNow('admin');
  expect(full.result).toBe('done');
  expect(full.reloaded).toContain('pbx_config.so');
  expect(full.failed).toEqual([]);
  expect(await A.cli(`dialplan show ${context}`)).toContain(pattern);
  expect(await callAB()).toBe(true);
});

it('a hand-written iax.conf peer with the name of a federation peer is left alone and the federation peer refused', async () => {
  const iaxFile = path.join(A.configDir, IAX_FILE);
  const extFile = path.join(A.configDir, EXTENSIONS_FILE);
  // A template named like a peer did not count: drift_tpl was written and verified (see beforeAll).
  expect(fs.readFileSync(iaxFile, 'utf8')).toContain('[drift_tpl]');

  fs.writeFileSync(path.join(A.configDir, 'handwritten-clash.conf'), HANDWRITTEN_INCLUDED);
  await A.cli('module reload chan_iax2.so');
  await insertPeer(sa.db, { name: 'clash', prefix: '56', port: B.iaxPort, secret });
  const report = await sa.feature.port.reconcileNow('admin');

  const failed = report.failed.find((f) => f.name === 'clash');
  expect(failed?.error).toMatch(/already has a section \[clash\] that the sidecar did not write/);
  const row = await peerRow(sa.db, 'clash');
  expect(row.applyState).toBe('failed');
  expect(row.applyError).toMatch(/renamed/);
  // Nothing of it was written: no friend, no dial plan entry that would dial the hand-written peer.
  expect(fs.readFileSync(iaxFile, 'utf8')).not.toMatch(/^\[clash\]/im);
  expect(fs.readFileSync(extFile, 'utf8')).not.toContain('IAX2/clash/');
  // The hand-written peer keeps its own settings, and the other peers are unaffected.
  const listed = (await sa.ami.iaxPeerList()).find((p) => p.name === 'Clash');
  expect(listed?.port).toBe(CLASH_PORT);
  expect(report.verified).toEqual(expect.arrayContaining(['drift_ab', 'drift_tpl']));
  expect(report.problems).toEqual([]);

  // Renamed by hand: the federation peer goes live on the next run.
  fs.writeFileSync(
    path.join(A.configDir, 'handwritten-clash.conf'),
    HANDWRITTEN_INCLUDED.replace('[Clash]', '[clash_local]'),
  );
  const after = await sa.feature.port.reconcileNow('admin');
  expect(after.verified).toContain('clash');
  expect((await peerRow(sa.db, 'clash')).applyState).toBe('applied');
  expect(fs.readFileSync(iaxFile, 'utf8')).toMatch(/^\[clash\]/m);
  await sa.db.getRepository(PeerEntity).delete({ name: 'clash' });
});

it('a partner answering its probes later than chan_iax2 allows (2 s) is lagged, with the latency, and reachable once fast again', async () => {
  // chan_iax2 waits for a probe's answer 5/6 of the qualify frequency at most (of the not-OK one while a
  // peer is down): with this suite's 1 s frequencies a 2.6 s round trip would read as unreachable. A third
  // instance with frequencies of a few seconds shows what a slow partner looks like.
  const C = await startAsterisk({ name: 'dc', extensionsConf: LOCAL_DIALPLAN });
  const sc = await startSidecar(C, { asterisk: { qualifyFreqOkMs: 6000, qualifyFreqNotOkMs: 4000 } });
  // 1.3 s each way: a 2.6 s round trip, over qualify's 2 s limit and under the 5 s wait.
  const relay = await startUdpDelayRelay({ host: '127.0.0.1', port: B.iaxPort }, 1300);
  try {
    await insertPeer(sc.db, { name: 'drift_slow', prefix: '58', port: relay.port, secret });
    await sc.feature.port.syncPeers('test');
    expect((await peerRow(sc.db, 'drift_slow')).applyState).toBe('applied');
    const lagged = await waitUntil(
      async () => {
        const r = await peerRow(sc.db, 'drift_slow');
        return r.reachability === 'lagged' ? r : null;
      },
      { what: 'drift_slow lagged', timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(lagged.latencyMs).toBeGreaterThan(2000);
    expect(lagged.linkError).toMatch(/lagged/i);
    expect(lagged.linkErrorAt).not.toBeNull();
    expect(lagged.lastSeen).not.toBeNull();
    expect(await peerStatesOn(sc.metrics, 'drift_slow')).toEqual(['lagged']);
    expect(await peerLatencySeconds(sc.metrics, 'drift_slow')).toBeGreaterThan(2);

    relay.delayMs = 0;
    const fast = await waitUntil(
      async () => {
        const r = await peerRow(sc.db, 'drift_slow');
        return r.reachability === 'reachable' && r.latencyMs !== null && r.latencyMs < 1000 ? r : null;
      },
      { what: 'drift_slow reachable', timeoutMs: 30_000, intervalMs: 200 },
    );
    // link_error is the last problem seen, kept for the admin after the trunk recovered.
    expect(fast.linkError).toMatch(/lagged/i);
    expect(fast.linkErrorAt).toBe(lagged.linkErrorAt);
    expect(fast.lastSeen).toBeGreaterThanOrEqual(lagged.lastSeen ?? 0);
  } finally {
    await relay.close();
    await sc.stop();
    await C.stop();
  }
});
