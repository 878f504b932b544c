/**
 * End to end: two complete instances, each a real sidecar process with its
 * own real Asterisk (files backend), A on MariaDB and B on SQLite, driven
 * through the admin API only. A requests, B accepts; both trunks are applied;
 * real IAX2 calls A→B and B→A through the prefixes are answered by the other
 * side's Echo extension; test calls pass from both sides; teardown from B
 * removes the trunks on both sides and the calls fail. Once in the uuru-fed/2
 * dialect and once with the request made in the v1 (stock µURU) dialect.
 *
 * Each dialect gets its own pair of instances. The uuru-fed/2 pair runs IAX2
 * on random ports (v2 carries the port). v1 carries no port, and v1 is refused
 * on any IAX2 port but 4569 (FED_V1_IAX2_PORT); so the v1 pair binds IAX2 on
 * 4569, each Asterisk at a loopback address of its own (127.x.y.z), which it
 * advertises to its partner as a stock µURU would.
 */
import { type Instance, LOCAL_CONTEXT, LOCAL_ECHO_EXTENSION, startInstances } from '../harness/instance';
import { adminOk, incomingByName, peerByName, type PeerViewJson, type Sidecar } from '../harness/sidecar';
import { waitUntil } from '../harness/wait';

jest.setTimeout(90_000);

interface PeerView extends PeerViewJson {
  prefix: string;
  apply_state: 'pending' | 'applied' | 'failed';
  apply_error: string | null;
  reachability: string;
  latency_ms: number | null;
  last_test_call: { answered: boolean; setupMs: number | null; error: string | null; at: number } | null;
}

interface TestCallResult {
  answered: boolean;
  setup_ms: number | null;
  error: string | null;
}

const peerView = async (s: Sidecar, name: string): Promise<PeerView | undefined> =>
  (await peerByName(s, name)) as PeerView | undefined;

/** Waits until the peer exists on the sidecar with its trunk applied and verified in Asterisk. */
async function appliedPeer(s: Sidecar, name: string): Promise<PeerView> {
  return waitUntil(
    async () => {
      const p = await peerView(s, name);
      if (p?.apply_state === 'failed') throw new Error(`apply failed: ${p.apply_error}`);
      return p?.apply_state === 'applied' ? p : undefined;
    },
    { what: `peer ${name} applied on ${s.name}`, timeoutMs: 20_000 },
  );
}

describe.each([
  {
    dialect: 'v2' as const,
    name: 'e2e_v2',
    prefixOnA: '71',
    prefixOnB: '72',
    codec: 'ulaw',
    standard: false,
  },
  { dialect: 'v1' as const, name: 'e2e_v1', prefixOnA: '61', prefixOnB: '62', codec: 'alaw', standard: true },
])(
  'two complete instances, request in the $dialect dialect',
  ({ dialect, name, prefixOnA, prefixOnB, codec, standard }) => {
    let A: Instance;
    let B: Instance;

    beforeAll(async () => {
      [A, B] = await startInstances([
        { name: `e2ea_${dialect}`, db: 'mariadb', standardIaxPort: standard },
        { name: `e2eb_${dialect}`, db: 'sqlite', standardIaxPort: standard },
      ]);
    }, 180_000);

    afterAll(async () => {
      await Promise.allSettled([A?.stop(), B?.stop()]);
    });

    // A dials B's numbers with prefixOnA; B dials A's numbers with prefixOnB.
    const aToB = `${prefixOnA}${LOCAL_ECHO_EXTENSION}`;
    const bToA = `${prefixOnB}${LOCAL_ECHO_EXTENSION}`;
    let onA: PeerView;
    let onB: PeerView;

    it('A requests, B accepts (admin API only): both trunks are applied and Asterisk has them', async () => {
      const created = await adminOk<{ id: string; dialect: string; state: string }>(
        A.sidecar,
        'POST',
        '/federation/outgoing-requests',
        { name, partner_url: B.sidecar.federationUrl, prefix: prefixOnA, codec, dialect },
        201,
      );
      expect(created).toMatchObject({ dialect, state: 'pending' });
      const incoming = await waitUntil(() => incomingByName(B.sidecar, name), {
        what: `incoming request ${name} on B`,
      });
      expect(incoming).toMatchObject({ dialect, state: 'pending' });
      await adminOk(
        B.sidecar,
        'POST',
        `/federation/incoming-requests/${incoming.id}/accept`,
        { prefix: prefixOnB },
        200,
      );

      [onA, onB] = await Promise.all([appliedPeer(A.sidecar, name), appliedPeer(B.sidecar, name)]);
      expect(onA).toMatchObject({ role: 'requester', dialect, prefix: prefixOnA, state: 'active' });
      expect(onB).toMatchObject({ role: 'acceptor', dialect, prefix: prefixOnB, state: 'active' });
      for (const [side, other] of [
        [A, B],
        [B, A],
      ] as const) {
        expect(side.generatedConfig()).toContain(`[${name}]`);
        // Each trunk points at the other Asterisk's own IAX2 address and port: 4569 in v1, which carries none.
        expect((await side.iaxPeers()).find((p) => p.name === name)).toMatchObject({
          host: other.asterisk.iaxHost,
          port: other.asterisk.iaxPort,
        });
      }
      expect(new Set([A.asterisk.iaxPort, B.asterisk.iaxPort]).has(4569)).toBe(standard);
    });

    it('real IAX2 calls A→B and B→A through the prefixes are answered by the other side', async () => {
      for (const [from, to, number] of [
        [A, B, aToB],
        [B, A, bToA],
      ] as const) {
        await waitUntil(async () => (await to.channels()).length === 0, {
          what: `no calls left on ${to.name}`,
        });
        // The caller holds the line for 2 s after the answer, so the far end's leg is still up to inspect.
        const call = await from.dial(number, { holdSec: 2 });
        expect(call).toMatchObject({ answered: true, reason: null });
        const farLegs = (await to.channels()).filter((c) => c.channel.startsWith('IAX2/'));
        expect(farLegs).toEqual([
          // Answered on the far side's local Echo extension, reached through its inbound context.
          expect.objectContaining({
            context: LOCAL_CONTEXT,
            exten: LOCAL_ECHO_EXTENSION,
            state: 'Up',
            application: expect.stringMatching(/^(Answer|Echo)$/),
          }),
        ]);
      }
    });

    it('test calls through the admin API pass from both sides and are kept on the peer', async () => {
      for (const [side, peer] of [
        [A, onA],
        [B, onB],
      ] as const) {
        const result = await adminOk<TestCallResult>(
          side.sidecar,
          'POST',
          `/federation/peers/${peer.id}/test-call`,
          {},
          200,
        );
        expect(result).toEqual({ answered: true, setup_ms: expect.any(Number), error: null });
        const stored = (await peerView(side.sidecar, name))?.last_test_call;
        expect(stored).toMatchObject({ answered: true, setupMs: result.setup_ms, error: null });
      }
    });

    it('both sides see the trunk reachable with a latency', async () => {
      for (const side of [A, B]) {
        const p = await waitUntil(
          async () => {
            const v = await peerView(side.sidecar, name);
            return v?.reachability === 'reachable' && v.latency_ms !== null ? v : undefined;
          },
          { what: `${name} reachable on ${side.name}`, timeoutMs: 15_000, intervalMs: 200 },
        );
        expect(p.latency_ms).toBeGreaterThanOrEqual(0);
      }
    });

    it('teardown from B removes the trunks on both sides, and the calls fail', async () => {
      await adminOk(B.sidecar, 'DELETE', `/federation/peers/${onB.id}`, undefined, 204);
      await waitUntil(async () => (await peerView(A.sidecar, name)) === undefined, {
        what: `A forgot ${name}`,
      });
      expect(await peerView(B.sidecar, name)).toBeUndefined();
      for (const side of [A, B]) {
        await waitUntil(
          async () =>
            !side.generatedConfig().includes(`[${name}]`) &&
            !(await side.iaxPeers()).some((p) => p.name === name),
          { what: `${name} gone from ${side.name}'s Asterisk` },
        );
        expect(side.generatedConfig()).not.toContain(`IAX2/${name}/`);
      }
      expect((await A.dial(aToB)).answered).toBe(false);
      expect((await B.dial(bToA)).answered).toBe(false);
    });
  },
);
