import { TypeormTrunkQualityStore } from '../../src/store/trunk-quality-samples';
import {
  adminApi,
  call,
  type Instance,
  peerInstances,
  responseSchemaErrors,
  startInstance,
} from './admin-fixtures';

/**
 * A trunk's call-quality samples through the admin API and the panel (two
 * real instances peered over HTTP, no Asterisk: the samples are stored as the
 * call-quality monitor would store them, through its store). The API answers
 * the last 24 h only, oldest first, as its OpenAPI schema says, with unknown
 * figures as null; the store prunes what is older.
 */

let a: Instance;
let b: Instance;
let peerId = '';
let doc: Record<string, unknown>;
const HOUR = 3_600_000;

beforeAll(async () => {
  [a, b] = await Promise.all([startInstance('quality-a'), startInstance('quality-b')]);
  peerId = (await peerInstances(a, b, { name: 'qual_ab', aPrefix: '71', bPrefix: '72' })).onA;
  doc = (await call(a.adminUrl, 'GET', '/api/admin/openapi.json')).json as Record<string, unknown>;
  const now = Date.now();
  const sample = (at: number, loss: number | null) => ({
    peer: 'qual_ab',
    at,
    source: 'call' as const,
    calls: 1,
    rttMs: loss === null ? null : 42,
    inbound: { jitterMs: 3, lossRatio: 0.02 },
    outbound: { jitterMs: null, lossRatio: loss },
  });
  await new TypeormTrunkQualityStore(a.app.db!).add([
    sample(now - 25 * HOUR, 0.5),
    sample(now - 2 * HOUR, 0.05),
    sample(now - HOUR, null),
    { ...sample(now - HOUR, 0.01), peer: 'someone_else' },
  ]);
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

it('GET /federation/peers/{id}/quality answers the last 24 h of that trunk, oldest first, unknown as null', async () => {
  const res = await adminApi(a)('GET', `/federation/peers/${peerId}/quality`);
  expect(res.status).toBe(200);
  expect(responseSchemaErrors(doc, 'GET', '/api/admin/federation/peers/{id}/quality', 200, res.json)).toEqual(
    [],
  );
  const body = res.json as {
    peer: string;
    samples: { at: string; rtt_ms: number | null; outbound: { loss_ratio: number | null } }[];
  };
  expect(body.peer).toBe('qual_ab');
  expect(body.samples.map((s) => s.outbound.loss_ratio)).toEqual([0.05, null]);
  expect(body.samples.map((s) => s.rtt_ms)).toEqual([42, null]);
  expect(Date.parse(body.samples[0].at)).toBeLessThan(Date.parse(body.samples[1].at));
});

it('an unknown peer is FED_UNKNOWN_PEER', async () => {
  const res = await adminApi(a)('GET', '/federation/peers/no-such-peer/quality');
  expect(res.status).toBe(404);
  expect(res.json).toMatchObject({ error: 'FED_UNKNOWN_PEER' });
});

it('the store prunes samples older than its cut-off and keeps the rest', async () => {
  const store = new TypeormTrunkQualityStore(a.app.db!);
  expect(await store.prune(Date.now() - 24 * HOUR)).toBe(1);
  expect((await store.since(0, 'qual_ab')).length).toBe(2);
  expect((await store.latest()).map((s) => s.peer).sort()).toEqual(['qual_ab', 'someone_else']);
});
