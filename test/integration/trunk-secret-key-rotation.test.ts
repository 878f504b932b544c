/**
 * Agreement key rotation flowing into a new trunk secret epoch (issue 15),
 * end to end on real parts: two in-process sidecars, each on its own injected
 * ManualClock with a real Asterisk (files backend), peered in uuru-fed/2 with
 * the default epoch (30 days) and overlap (24 h).
 *
 * A call is held up while A's admin rotates A's keys (admin API; the new
 * agreement key is in force at once). Nothing is sent for the trunk: from the
 * middle of the period each side reads both sides' dated agreement keys (B
 * refetches A's descriptor) and both schedule the next period's root from
 * the new pair, shown as `trunk_rotation.agreement_key_switch_at`. The clocks
 * then cross that boundary with A leading by minutes, and at every step the
 * long call stays up, new calls both ways are answered and encrypted
 * (CHANNEL(secure_media)), and the old secret is answered inside B's overlap
 * and refused after it (a hand-written IAX2 peer carrying it). Set-up, call
 * checks and the probe peer: test/harness/clocked-sidecars.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ECHO_EXTEN } from '../harness/asterisk';
import {
  adminApi as api,
  callsWork as callsWorkBetween,
  type ClockedNode,
  holdLongCall,
  peerNamed,
  PROBE_IAX_CONF,
  probeCall,
  startClockedNode,
  writeProbePeer,
} from '../harness/clocked-sidecars';
import { allOrNone } from '../harness/instance';
import { ManualClock } from '../harness/manual-clock';
import { waitUntil } from '../harness/wait';

jest.setTimeout(300_000);

const DAY = 86_400_000;
const EPOCH_MS = 30 * DAY;
const OVERLAP_MS = DAY;
const SKEW_MS = 5 * 60_000;
const NAME = 'krot_ab';
const PREFIX_ON_A = '73';
const PREFIX_ON_B = '74';

interface PeerJson {
  id: string;
  name: string;
  apply_state: string;
  apply_error: string | null;
  trunk_rotation: { epoch: number; agreement_key_switch_at?: string } | null;
}

const peerOn = (n: ClockedNode): Promise<PeerJson | undefined> => peerNamed<PeerJson>(n, NAME);

/** The secrets a side's generated file holds for the peering: its epoch users' ones, the one the friend sends last. */
function secretLines(n: ClockedNode): string[] {
  const file = path.join(n.ast.configDir, 'iax-uuru-federation.conf');
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const objects = text
    .split(/^\[/m)
    .filter((s) => s.startsWith(`${NAME}]`) || s.startsWith(`${NAME}-e`))
    .map((s) => ({
      name: s.slice(0, s.indexOf(']')),
      secret: (s.split('\n').find((l) => l.startsWith('secret=')) ?? '').slice('secret='.length),
    }));
  const sent = objects.find((o) => o.name === NAME)?.secret;
  const users = objects.filter((o) => o.name !== NAME).map((o) => o.secret);
  return sent === undefined ? users : [...users.filter((u) => u !== sent), sent];
}

describe('agreement key rotation into a new trunk secret epoch (two real Asterisks, files backend)', () => {
  let A: ClockedNode;
  let B: ClockedNode;
  let longOnA: string;
  let longOnB: string;
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  /** The first boundary at least 20 days after the start: the key rotation comes before the middle of its period. */
  const boundary = (Math.floor(t0 / EPOCH_MS) + 2) * EPOCH_MS;

  beforeAll(async () => {
    const start = boundary - 20 * DAY;
    [A, B] = await allOrNone(
      ['krota', 'krotb'].map((name) =>
        startClockedNode({ name, clock: new ManualClock(start), asterisk: { iaxConf: PROBE_IAX_CONF } }),
      ),
      (n) => n.stop(),
    );
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled([A?.stop(), B?.stop()]);
  });

  function setClocks(t: number): void {
    A.clock.set(t + SKEW_MS);
    B.clock.set(t);
  }

  /** Waits until each side's file holds the expected number of secrets, then until Asterisk has read it. */
  async function applied(onA: number, onB: number): Promise<void> {
    for (const [n, count] of [
      [A, onA],
      [B, onB],
    ] as const) {
      await waitUntil(() => (secretLines(n).length === count ? true : undefined), {
        what: `${count} secret line(s) on ${n.name}`,
        timeoutMs: 15_000,
      });
    }
    for (const n of [A, B]) await api(n, 'POST', '/reconcile', {});
  }

  /** A new call each way is answered and encrypted on both ends; the long call is still up and encrypted. */
  async function callsWork(moment: string): Promise<void> {
    await callsWorkBetween(
      {
        a: A,
        b: B,
        numberFromA: `${PREFIX_ON_A}${ECHO_EXTEN}`,
        numberFromB: `${PREFIX_ON_B}${ECHO_EXTEN}`,
        longOnA,
        longOnB,
      },
      moment,
    );
  }

  it('a call stays up and calls keep working while a rotated agreement key becomes the next epoch', async () => {
    await api(
      A,
      'POST',
      '/federation/outgoing-requests',
      { name: NAME, partner_url: B.federationUrl, prefix: PREFIX_ON_A, codec: 'ulaw', dialect: 'v2' },
      201,
    );
    const incoming = await waitUntil(
      async () =>
        (
          await api<{ requests: { id: string; name: string }[] }>(B, 'GET', '/federation/incoming-requests')
        ).requests.find((r) => r.name === NAME),
      { what: 'the request on B' },
    );
    await api(B, 'POST', `/federation/incoming-requests/${incoming.id}/accept`, { prefix: PREFIX_ON_B });
    for (const n of [A, B])
      await waitUntil(async () => ((await peerOn(n))?.apply_state === 'applied' ? true : undefined), {
        what: `peer applied on ${n.name}`,
        timeoutMs: 20_000,
      });
    ({ longOnA, longOnB } = await holdLongCall(A, B, `${PREFIX_ON_A}${ECHO_EXTEN}`, 20_000));
    const [old] = secretLines(A);
    expect(secretLines(B)).toEqual([old]);

    // A's admin rotates A's keys an hour later: the new agreement key is in force from then on, and nothing is
    // sent for the trunk.
    setClocks(boundary - 20 * DAY + 3_600_000);
    const keys = await api<{ keys: { kid: string; alg: string; status: string }[] }>(
      A,
      'POST',
      '/federation/keys/rotate',
      {},
    );
    const newKid = keys.keys.find((k) => k.alg === 'x25519' && k.status === 'active')?.kid;
    expect(newKid).toMatch(/^x/);
    // Before the middle of the period, the trunk does not move.
    setClocks(boundary - 16 * DAY);
    await callsWork('keys rotated on A, before the middle of the period');
    expect((await peerOn(A))?.trunk_rotation?.agreement_key_switch_at).toBeUndefined();

    // From the middle of the period both sides schedule the new keys' root for the next boundary.
    setClocks(boundary - 14 * DAY);
    for (const n of [A, B])
      await waitUntil(
        async () =>
          (await peerOn(n))?.trunk_rotation?.agreement_key_switch_at === new Date(boundary).toISOString()
            ? true
            : undefined,
        { what: `the new keys' root scheduled on ${n.name}`, timeoutMs: 15_000 },
      );
    await applied(1, 1);
    expect(secretLines(A)).toEqual([old]);
    await callsWork('the new root scheduled');

    // Both in the overlap before the boundary: the new root's epoch secret is accepted too, the old one sent.
    setClocks(boundary - OVERLAP_MS / 2);
    await applied(2, 2);
    const [next] = secretLines(A);
    expect(secretLines(A)).toEqual([next, old]);
    expect(secretLines(B)).toEqual([next, old]);
    await callsWork('both in the overlap before the boundary');

    // A past the boundary sends the new secret, B (minutes behind) still the old one.
    setClocks(boundary - SKEW_MS / 2);
    await waitUntil(() => (secretLines(A)[1] === next ? true : undefined), {
      what: 'A sends the new secret',
    });
    await applied(2, 2);
    expect(secretLines(B)).toEqual([next, old]);
    await callsWork('A on the new keys, B not yet');

    // A past the overlap drops the old secret; B still accepts it (a hand-written peer carrying it is answered).
    setClocks(boundary + OVERLAP_MS - SKEW_MS / 2);
    await applied(1, 2);
    expect(secretLines(A)).toEqual([next]);
    await callsWork('A past the overlap, B not yet');
    await writeProbePeer(A, B, `${NAME}-e${(boundary / EPOCH_MS - 1) % 2}`, old);
    expect(await probeCall(A, B)).toEqual({
      answered: true,
      reason: null,
    });

    // Both past the overlap: the old secret no longer authenticates; the new root is the root on both sides.
    setClocks(boundary + OVERLAP_MS + SKEW_MS);
    await applied(1, 1);
    expect(secretLines(B)).toEqual([next]);
    expect((await probeCall(A, B)).answered).toBe(false);
    await callsWork('both past the overlap');
    for (const n of [A, B])
      await waitUntil(
        async () =>
          (await peerOn(n))?.trunk_rotation?.agreement_key_switch_at === undefined ? true : undefined,
        { what: `the new root folded on ${n.name}` },
      );
  });
});
