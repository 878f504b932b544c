/**
 * Regressions found by the convergence benchmark, against real Asterisk 22:
 *
 * - chan_iax2 counts every dialog with an address (calls, and each outgoing
 *   qualify POKE) against that address's call-number budget until 60 s after
 *   it ended, and a peer's `maxcallnumbers` sets that budget. Written as the
 *   concurrent-call limit it ran out under a short qualify frequency alone, and
 *   calls to a loaded peer failed ("Allocation failed") for up to a minute.
 * - A test call to a peer Asterisk has not loaded yet went out as IAX2/<name>,
 *   which chan_iax2 resolves as a host name through DNS (leaking the name and
 *   waiting out the resolver, 5 s when a query is lost).
 */
import fs from 'node:fs';
import { type AsteriskInstance, startAsterisk } from '../harness/asterisk';
import { LOCAL_DIALPLAN, type Sidecar, insertPeer, sharedSecret, startSidecar } from './asterisk-fixtures';

jest.setTimeout(120_000);

/** Small on purpose: the old rendering made it the address's whole call-number budget. */
const MAX_CALLS = 4;

let A: AsteriskInstance;
let B: AsteriskInstance;
let sa: Sidecar;
let sb: Sidecar;

beforeAll(async () => {
  [A, B] = await Promise.all([
    startAsterisk({ name: 'cn_a', extensionsConf: LOCAL_DIALPLAN }),
    startAsterisk({ name: 'cn_b', extensionsConf: LOCAL_DIALPLAN }),
  ]);
  // Qualify every second (the fixtures' setting): 60 POKEs a minute to B's address.
  const overrides = { asterisk: { maxCallsPerPeer: MAX_CALLS } };
  [sa, sb] = await Promise.all([startSidecar(A, overrides), startSidecar(B, overrides)]);
  await Promise.all([sa.feature.reconciler.idle(), sb.feature.reconciler.idle()]);
});

afterAll(async () => {
  await Promise.allSettled([sa?.stop(), sb?.stop()]);
  await Promise.allSettled([A?.stop(), B?.stop()]);
});

it('does not place a test call to a peer Asterisk has not loaded: no DNS lookup of its name, an answer at once', async () => {
  await insertPeer(sa.db, { name: 'not_yet', prefix: '57', port: B.iaxPort, secret: sharedSecret() });
  const t0 = performance.now();
  const r = await sa.feature.port.testCall('not_yet');
  expect(performance.now() - t0).toBeLessThan(1000);
  expect(r).toMatchObject({ answered: false, setupMs: null });
  expect(r.error).toMatch(/not loaded in Asterisk yet \(apply_state pending\)/);
  expect(fs.readFileSync(A.logFile, 'utf8')).not.toMatch(/getaddrinfo\("not_yet"|No such host: not_yet/);
  // Once applied, the same peer is called (and fails for want of a partner, not for want of a peer).
  await sa.feature.reconcile('test');
  const after = await sa.feature.port.testCall('not_yet');
  expect(after.error ?? '').not.toMatch(/not loaded/);
});

it(`keeps calls going well past ${MAX_CALLS} call numbers a minute on a peer qualified every second`, async () => {
  const secret = sharedSecret();
  await insertPeer(sa.db, { name: 'cn_pair', prefix: '58', port: B.iaxPort, secret });
  await insertPeer(sb.db, { name: 'cn_pair', prefix: '59', port: A.iaxPort, secret });
  await Promise.all([sa.feature.reconcile('test'), sb.feature.reconcile('test')]);
  const iax = fs.readFileSync(`${A.configDir}/iax-uuru-federation.conf`, 'utf8');
  // Two peers at 127.0.0.1 share the address's budget: 2 x (2 x 4 calls + 61 probes a minute).
  expect(iax).toContain('maxcallnumbers=138');
  // Let the probes run through more than the old budget, then call over and over.
  await new Promise((r) => setTimeout(r, 3000));
  const results = [];
  for (let i = 0; i < 3 * MAX_CALLS; i++) results.push(await sa.feature.port.testCall('cn_pair'));
  expect(results.filter((r) => !r.answered)).toEqual([]);
  expect(fs.readFileSync(A.logFile, 'utf8')).not.toMatch(
    /maxcallnumber limit of \d+ for 127\.0\.0\.1 has been reached/,
  );
});
