import { ManualClock } from '../harness/manual-clock';
import { verifyEndorsement } from '../../src/federation/endorsement';
import { signRequest, type SigningKey } from '../../src/federation/http-signature';
import { KeyRotation } from '../../src/federation/key-rotation';
import { startInstance, type TestInstance } from './federation-keys-fixtures';

/**
 * Scheduled rotation with the clock injected: the successor is published as
 * `next` 7 days ahead, becomes active on its date, the old key is `retiring`
 * for 30 days and then gone. A partner (a second real instance) follows the
 * rotation with no admin action and refuses the old key after the overlap.
 */

const DAY = 24 * 60 * 60 * 1000;
const T0 = Date.parse('2026-01-10T00:00:00Z');

let clock: ManualClock;
let a: TestInstance;
let b: TestInstance;
let rotation: KeyRotation;

beforeEach(async () => {
  clock = new ManualClock(T0);
  a = await startInstance({ clock, lifetimeDays: 365 });
  b = await startInstance({ clock });
  await b.partnerKeys.pin(await a.descriptor());
  rotation = new KeyRotation({ localKeys: a.localKeys, clock, logger: a.logs.logger, lifetimeDays: 365 });
});

afterEach(async () => {
  await a?.close();
  await b?.close();
});

async function requestFromA(key?: SigningKey) {
  const url = `${b.url}/federation/v2/peerings/r1`;
  const headers = signRequest({
    method: 'GET',
    url,
    key: key ?? (await a.localKeys.signingKey()),
    now: clock.now(),
  });
  return b.verifier.verify(
    { method: 'GET', targetUri: url, headers, rawBody: Buffer.alloc(0) },
    a.serverName,
  );
}

const statuses = async () => (await a.localKeys.publishedSigningKeys()).map((k) => k.status);

it('publishes next 7 days ahead, activates it, retires the old key after 30 days; the partner follows', async () => {
  const oldKey = await a.localKeys.signingKey();
  expect((await rotation.run()).changed).toBe(false);

  clock.set(T0 + 358 * DAY - 60_000);
  expect((await rotation.run()).changed).toBe(false);
  expect(await statuses()).toEqual(['active']);

  clock.set(T0 + 358 * DAY);
  expect((await rotation.run()).changed).toBe(true);
  expect((await rotation.run()).changed).toBe(false); // idempotent
  const published = await a.localKeys.publishedSigningKeys();
  expect(published.map((k) => k.status)).toEqual(['active', 'next']);
  const [active, next] = published;
  expect(Date.parse(next.not_before)).toBe(T0 + 365 * DAY);
  expect(next.endorsement?.kid).toBe(active.kid);
  expect(
    verifyEndorsement({
      kid: next.kid,
      publicKey: next.public_key,
      sig: next.endorsement?.sig ?? '',
      endorserPublicKey: active.public_key,
    }),
  ).toBe(true);
  // The active key still signs while the next one waits.
  expect((await a.localKeys.signingKey()).keyId).toBe(oldKey.keyId);
  expect((await a.localKeys.publishedAgreementKeys()).length).toBe(2);

  clock.set(T0 + 365 * DAY);
  expect((await rotation.run()).changed).toBe(true);
  expect(await statuses()).toEqual(['retiring', 'active']);
  const newKey = await a.localKeys.signingKey();
  expect(newKey.keyId).toBe(`${a.serverName}#${next.kid}`);
  const retiring = (await a.localKeys.publishedSigningKeys()).find((k) => k.status === 'retiring');
  expect(Date.parse(retiring?.expires_at ?? '')).toBe(T0 + 395 * DAY);

  // The partner picks up the endorsed new key on its own, and still accepts the old one.
  const hits = a.descriptorHits;
  expect(await requestFromA()).toMatchObject({ ok: true, kid: next.kid });
  expect(a.descriptorHits).toBe(hits + 1);
  expect((await b.partnerKeys.get(a.serverName))?.heldKeys).toBeNull();
  expect((await requestFromA(oldKey)).ok).toBe(true);

  clock.set(T0 + 394 * DAY);
  expect((await rotation.run()).changed).toBe(false);
  expect((await requestFromA(oldKey)).ok).toBe(true);

  clock.set(T0 + 395 * DAY + 120_000);
  expect((await rotation.run()).changed).toBe(true);
  expect(await statuses()).toEqual(['active']);
  const retired = (await a.localKeys.list()).find((k) => k.kid === active.kid);
  expect(retired).toMatchObject({ status: 'retired', privateKey: '' });
  expect(await requestFromA(oldKey)).toMatchObject({ ok: false, code: 'FED_UNKNOWN_KEY' });
  expect((await requestFromA()).ok).toBe(true);
});

it('keeps the full 7-day lead when the job ran late', async () => {
  clock.set(T0 + 370 * DAY);
  expect((await rotation.run()).changed).toBe(true);
  const next = (await a.localKeys.publishedSigningKeys()).find((k) => k.status === 'next');
  expect(Date.parse(next?.not_before ?? '')).toBe(T0 + 377 * DAY);
  clock.set(T0 + 376 * DAY);
  expect((await rotation.run()).changed).toBe(false);
  clock.set(T0 + 377 * DAY);
  expect((await rotation.run()).changed).toBe(true);
  expect((await a.localKeys.signingKey()).keyId).toBe(`${a.serverName}#${next?.kid}`);
});

it('manual rotation promotes a published next key at once instead of making another', async () => {
  clock.set(T0 + 360 * DAY);
  await rotation.run();
  const next = (await a.localKeys.publishedSigningKeys()).find((k) => k.status === 'next');
  await a.localKeys.rotate();
  expect((await a.localKeys.signingKey()).keyId).toBe(`${a.serverName}#${next?.kid}`);
  expect(await statuses()).toEqual(['retiring', 'active']);
  // The schedule restarts from the manual activation.
  expect((await rotation.run()).changed).toBe(false);
  clock.set(T0 + 360 * DAY + 358 * DAY);
  expect((await rotation.run()).changed).toBe(true);
});
