import type { KeyObject } from 'node:crypto';
import { ManualClock } from '../harness/manual-clock';
import { signRequest } from '../../src/federation/http-signature';
import { fingerprint } from '../../src/federation/local-keys';
import { REFETCH_MAX_BACKOFF_MS, REFETCH_MIN_INTERVAL_MS } from '../../src/federation/partner-keys';
import { PartnerEntity } from '../../src/store/entities';
import { typeormFederationStores } from '../../src/store/typeorm';
import { deadUrl, startInstance, type TestInstance } from './federation-keys-fixtures';

/**
 * Partner key refresh against a real descriptor server that counts its
 * requests: one shared refetch for concurrent callers, at most one per 30 s
 * per origin, exponential backoff after failures, endorsement chains, and
 * first contact (a partner not pinned yet).
 */

let clock: ManualClock;
let a: TestInstance;
let b: TestInstance;

beforeEach(async () => {
  clock = new ManualClock(Date.parse('2026-05-01T08:00:00Z'));
  a = await startInstance({ clock });
  b = await startInstance({ clock, partnerTimeoutMs: 400 });
  await b.partnerKeys.pin(await a.descriptor());
  clock.advance(REFETCH_MIN_INTERVAL_MS);
});

afterEach(async () => {
  await a?.close();
  await b?.close();
});

const kidOf = async (inst: TestInstance) => (await inst.localKeys.signingKey()).keyId.split('#')[1];
const isKey = (v: unknown): v is KeyObject => typeof v === 'object' && v !== null;

it('shares one refetch between concurrent callers asking for the same unknown kid', async () => {
  await a.localKeys.rotate();
  const kid = await kidOf(a);
  a.descriptorDelayMs = 150;
  const hits = a.descriptorHits;
  const results = await Promise.all(
    Array.from({ length: 12 }, () => b.partnerKeys.getSigningKey(a.serverName, kid)),
  );
  expect(a.descriptorHits).toBe(hits + 1);
  expect(results.every(isKey)).toBe(true);
});

it("finds a pinned key from the partner's keys alone, without reading its whole row", async () => {
  const wholeRow = jest.spyOn(b.partnerKeys, 'get');
  const hits = a.descriptorHits;
  expect(isKey(await b.partnerKeys.getSigningKey(a.serverName, await kidOf(a)))).toBe(true);
  expect(wholeRow).not.toHaveBeenCalled();
  expect(a.descriptorHits).toBe(hits);
});

it('refetches at most once per 30 s per origin', async () => {
  const hits = a.descriptorHits;
  expect(await b.partnerKeys.getSigningKey(a.serverName, 'kmissing1')).toBe('unknown');
  expect(a.descriptorHits).toBe(hits + 1);
  clock.advance(REFETCH_MIN_INTERVAL_MS - 1000);
  expect(await b.partnerKeys.getSigningKey(a.serverName, 'kmissing2')).toBe('unknown');
  expect(a.descriptorHits).toBe(hits + 1);
  // A rotation inside the window is seen only once the window is over.
  await a.localKeys.rotate();
  const kid = await kidOf(a);
  expect(await b.partnerKeys.getSigningKey(a.serverName, kid)).toBe('unknown');
  expect(a.descriptorHits).toBe(hits + 1);
  clock.advance(1000);
  expect(isKey(await b.partnerKeys.getSigningKey(a.serverName, kid))).toBe(true);
  expect(a.descriptorHits).toBe(hits + 2);
});

it('backs off exponentially after failed fetches, up to 1 h, and recovers', async () => {
  a.descriptorMode = 'fail';
  const delays: number[] = [];
  let hits = a.descriptorHits;
  for (let i = 0; i < 9; i++) {
    expect(await b.partnerKeys.getSigningKey(a.serverName, 'kmissing')).toBe('fetch_failed');
    expect(a.descriptorHits).toBe(hits + 1);
    hits = a.descriptorHits;
    const partner = await b.partnerKeys.get(a.serverName);
    const delay = (partner?.nextFetchAt ?? 0) - clock.now();
    delays.push(delay / 1000);
    // Just before the backoff ends: no fetch, still reported as a fetch failure.
    clock.advance(delay - 1000);
    expect(await b.partnerKeys.getSigningKey(a.serverName, 'kmissing')).toBe('fetch_failed');
    expect(a.descriptorHits).toBe(hits);
    clock.advance(1000);
  }
  expect(delays).toEqual([30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
  expect(REFETCH_MAX_BACKOFF_MS).toBe(3600 * 1000);

  a.descriptorMode = 'ok';
  await a.localKeys.rotate();
  expect(isKey(await b.partnerKeys.getSigningKey(a.serverName, await kidOf(a)))).toBe(true);
  expect((await b.partnerKeys.get(a.serverName))?.fetchFailures).toBe(0);
});

it('gives up on a descriptor that does not answer within the timeout', async () => {
  a.descriptorMode = 'slow';
  const started = Date.now();
  expect(await b.partnerKeys.getSigningKey(a.serverName, 'kmissing')).toBe('fetch_failed');
  expect(Date.now() - started).toBeLessThan(3000);
  expect((await b.partnerKeys.get(a.serverName))?.fetchFailures).toBe(1);
});

it('follows an endorsement chain through keys it never saw (k1 -> k2 -> k3)', async () => {
  const k1 = await kidOf(a);
  await a.localKeys.rotate();
  const k2 = await kidOf(a);
  await a.localKeys.rotate();
  const k3 = await kidOf(a);
  expect(new Set([k1, k2, k3]).size).toBe(3);
  expect(isKey(await b.partnerKeys.getSigningKey(a.serverName, k3))).toBe(true);
  const partner = await b.partnerKeys.get(a.serverName);
  expect(partner?.signingKeys.map((k) => k.kid).sort()).toEqual([k1, k2, k3].sort());
  expect(partner?.heldKeys).toBeNull();
  const fps = await b.partnerKeys.fingerprints(a.serverName);
  expect([...fps].sort()).toEqual(partner?.signingKeys.map((k) => fingerprint(k.publicKey)).sort());
  // The active key comes first: that is the one admins compare.
  const active = (await a.localKeys.publishedSigningKeys()).find((k) => k.status === 'active');
  expect(fps[0]).toBe(fingerprint(active?.public_key ?? ''));
});

it('does not trust an endorsement by a key it does not trust', async () => {
  // C publishes a key endorsed by C's own key; B pinned A, so C's endorsement proves nothing about A.
  const c = await startInstance({ clock });
  try {
    await c.localKeys.rotate();
    const cDescriptor = await c.descriptor();
    const active = cDescriptor.signing_keys.find((k) => k.status === 'active');
    if (!active) throw new Error('C has no active key');
    a.descriptorOverride = (d) => ({
      ...d,
      signing_keys: [...d.signing_keys, { ...active, status: 'next' }],
    });
    expect(await b.partnerKeys.getSigningKey(a.serverName, active.kid)).toBe('held');
  } finally {
    a.descriptorOverride = null;
    await c.close();
  }
});

it('picks up a new agreement key of a partner whose signing keys it trusts', async () => {
  await a.localKeys.rotate();
  const agreement = await a.localKeys.agreementKey();
  expect(await b.partnerKeys.agreementPublicKey(a.serverName, agreement.kid)).toBe(agreement.publicKey);
  expect(await b.partnerKeys.agreementPublicKey(a.serverName, 'xnothere')).toBeNull();
});

describe('first contact (a partner not pinned yet)', () => {
  let c: TestInstance;
  beforeEach(async () => {
    c = await startInstance({ clock });
  });
  afterEach(async () => {
    await c?.close();
  });

  async function firstRequestFromC(baseUrl: string) {
    const body = JSON.stringify({ request_id: 'r-first', base_url: baseUrl });
    const url = `${b.url}/federation/v2/peering-requests`;
    const headers = signRequest({
      method: 'POST',
      url,
      body,
      key: await c.localKeys.signingKey(),
      now: clock.now(),
    });
    return { method: 'POST', targetUri: url, headers, rawBody: Buffer.from(body) };
  }

  it('verifies with the descriptor at base_url, stores nothing, and hands the descriptor back for pinning', async () => {
    const req = await firstRequestFromC(c.url);
    const result = await b.verifier.verify(req, c.serverName, { firstContactBaseUrl: c.url });
    expect(result).toMatchObject({ ok: true, serverName: c.serverName });
    expect(result.ok && result.descriptor?.server_name).toBe(c.serverName);
    expect(await b.db.getRepository(PartnerEntity).countBy({ serverName: c.serverName })).toBe(0);
    if (result.ok && result.descriptor) await b.partnerKeys.pin(result.descriptor);
    expect(await b.partnerKeys.fingerprints(c.serverName)).toHaveLength(1);
  });

  it('refuses a base_url of another server than the keyid names', async () => {
    const req = await firstRequestFromC(a.url);
    // The caller expects the authority of base_url (A), the keyid names C.
    const result = await b.verifier.verify(req, a.serverName, { firstContactBaseUrl: a.url });
    expect(result).toMatchObject({ ok: false, code: 'FED_SIGNER_MISMATCH' });
  });

  it('FED_KEY_FETCH_FAILED when base_url does not answer', async () => {
    const gone = await deadUrl();
    const goneName = new URL(gone).host;
    const body = JSON.stringify({ request_id: 'r-first', base_url: gone });
    const url = `${b.url}/federation/v2/peering-requests`;
    // Signed as if C lived at the dead address.
    const key = {
      keyId: `${goneName}#${await kidOf(c)}`,
      privateKey: (await c.localKeys.signingKey()).privateKey,
    };
    const headers = signRequest({ method: 'POST', url, body, key, now: clock.now() });
    const req = { method: 'POST', targetUri: url, headers, rawBody: Buffer.from(body) };
    const result = await b.verifier.verify(req, goneName, { firstContactBaseUrl: gone });
    expect(result).toMatchObject({ ok: false, code: 'FED_KEY_FETCH_FAILED', status: 503 });
  });

  it('backs off first-contact fetches too after a failure', async () => {
    c.descriptorMode = 'fail';
    const hits = c.descriptorHits;
    const first = await b.verifier.verify(await firstRequestFromC(c.url), c.serverName, {
      firstContactBaseUrl: c.url,
    });
    expect(first).toMatchObject({ ok: false, code: 'FED_KEY_FETCH_FAILED' });
    expect(c.descriptorHits).toBe(hits + 1);
    c.descriptorMode = 'ok';
    const second = await b.verifier.verify(await firstRequestFromC(c.url), c.serverName, {
      firstContactBaseUrl: c.url,
    });
    expect(second).toMatchObject({ ok: false, code: 'FED_KEY_FETCH_FAILED' });
    expect(c.descriptorHits).toBe(hits + 1);
    clock.advance(REFETCH_MIN_INTERVAL_MS);
    const third = await b.verifier.verify(await firstRequestFromC(c.url), c.serverName, {
      firstContactBaseUrl: c.url,
    });
    expect(third.ok).toBe(true);
    expect(c.descriptorHits).toBe(hits + 2);
  });
});

it('keys read while a transaction writing the partner is open are not kept after it rolls back (nor before its end)', async () => {
  const kid = await kidOf(a);
  await b.partnerKeys.forget(a.serverName);
  const transactions = typeormFederationStores(b.db, clock).transactions;
  let during: unknown;
  await expect(
    transactions.run(async (tx) => {
      await b.partnerKeys.pin(await a.descriptor(), tx);
      // Another request checks a signature meanwhile: on SQLite's one connection it sees the open transaction's row.
      during = await b.partnerKeys.getSigningKey(a.serverName, kid);
      throw new Error('refused after pinning');
    }),
  ).rejects.toThrow('refused after pinning');
  expect(isKey(during)).toBe(true);
  // Rolled back: the partner is unknown again at once, not only after the cache's second.
  expect(await b.partnerKeys.get(a.serverName)).toBeNull();
  expect(await b.partnerKeys.getSigningKey(a.serverName, kid)).toBe('unknown');
});
