/**
 * Numbers a partner must never reach, end to end: two complete instances
 * (real sidecar processes, each with its own real Asterisk), A with a
 * 3-digit plan and B with a 4-digit plan, peered through the admin API. Each
 * side's phones answer every local number, so whatever a partner's call
 * does not reach was stopped by the inbound context the sidecar wrote.
 *
 * Blocked on each side: the configured reserved extensions (A in µURU's
 * JSON form with a range, B in the comma form with a `70*` stem), the
 * emergency numbers (in B's longer plan every number starting with one) and,
 * once the admin saves a policy, its unfederated numbers besides all of
 * those. The regression: with a saved policy listing only 555 and
 * UURU_RESERVED_EXTENSIONS=999 in a 3-digit plan, a partner's call to 999 or
 * 112 used to reach the local context (the dial plan took the policy list
 * instead of the reserved extensions, and never the emergency numbers).
 */
import { type Instance, startInstances } from '../harness/instance';
import { adminOk, incomingByName, peerByName, type Sidecar } from '../harness/sidecar';
import { waitUntil } from '../harness/wait';

jest.setTimeout(180_000);

const NAME = 'unfed';
/** A dials B's numbers with this prefix; B dials A's with the other. */
const PREFIX_ON_A = '71';
const PREFIX_ON_B = '72';

/** Answers every local number of the plan (and holds it), as the phones' context of a real PBX would. */
const answerAll = (digits: number): string[] => [
  `exten => _${'X'.repeat(digits)},1,Answer()`,
  ' same => n,Wait(5)',
  ' same => n,Hangup()',
];

let A: Instance;
let B: Instance;

interface Policy {
  mode: string;
  allowed_peers: string[];
  blocked_peers: string[];
  allow_legacy: boolean;
  unfederated_numbers: string[];
}

async function appliedPeer(s: Sidecar): Promise<void> {
  await waitUntil(
    async () => {
      const p = (await peerByName(s, NAME)) as { apply_state?: string; apply_error?: string } | undefined;
      if (p?.apply_state === 'failed') throw new Error(`apply failed: ${p.apply_error}`);
      return p?.apply_state === 'applied';
    },
    { what: `peer ${NAME} applied on ${s.name}`, timeoutMs: 30_000 },
  );
}

/** Which of the numbers a call from `from` through the prefix is answered for. */
async function reached(from: Instance, prefix: string, numbers: string[]): Promise<Record<string, boolean>> {
  const out: Record<string, boolean> = {};
  for (const n of numbers) out[n] = (await from.dial(`${prefix}${n}`, { holdSec: 1 })).answered;
  return out;
}

const expectReach = (got: Record<string, boolean>, blocked: string[], allowed: string[]) =>
  expect(got).toEqual(
    Object.fromEntries([...blocked.map((n) => [n, false]), ...allowed.map((n) => [n, true])]),
  );

async function savePolicy(side: Instance, unfederated: string[]): Promise<void> {
  const current = await adminOk<Policy>(side.sidecar, 'GET', '/federation/policy', undefined, 200);
  await adminOk(
    side.sidecar,
    'PUT',
    '/federation/policy',
    { ...current, unfederated_numbers: unfederated },
    200,
  );
}

beforeAll(async () => {
  [A, B] = await startInstances([
    {
      name: 'unfa',
      config: { instance: { extensionDigits: 3 } },
      env: { UURU_RESERVED_EXTENSIONS: '[999, [200, 214]]' },
      localDialplan: answerAll(3),
    },
    {
      name: 'unfb',
      config: { instance: { extensionDigits: 4 } },
      env: { UURU_RESERVED_EXTENSIONS: '8888,70*' },
      localDialplan: answerAll(4),
    },
  ]);
  await adminOk(
    A.sidecar,
    'POST',
    '/federation/outgoing-requests',
    { name: NAME, partner_url: B.sidecar.federationUrl, prefix: PREFIX_ON_A, codec: 'ulaw', dialect: 'v2' },
    201,
  );
  const incoming = await waitUntil(() => incomingByName(B.sidecar, NAME), { what: `incoming request on B` });
  await adminOk(
    B.sidecar,
    'POST',
    `/federation/incoming-requests/${incoming.id}/accept`,
    { prefix: PREFIX_ON_B },
    200,
  );
  await Promise.all([appliedPeer(A.sidecar), appliedPeer(B.sidecar)]);
}, 240_000);

afterAll(async () => {
  await Promise.allSettled([A?.stop(), B?.stop()]);
});

// A's 3-digit plan: reserved 999 and 200-214 (µURU JSON form), the emergency numbers themselves.
const A_RESERVED = ['999', '200', '207', '214'];
const A_EMERGENCY = ['110', '112', '911', '000', '118', '119'];
// B's 4-digit plan: reserved 8888 and 70xx (comma form); emergency numbers block the numbers starting with them.
const B_RESERVED = ['8888', '7000', '7042'];
const B_EMERGENCY = ['1120', '1109', '9119', '9995', '0000', '1185', '1190'];

describe('without a saved policy', () => {
  it("3-digit plan: B's calls to A's reserved (range too) and emergency numbers are hung up, others answered", async () => {
    const got = await reached(B, PREFIX_ON_B, [...A_RESERVED, ...A_EMERGENCY, '555', '215', '199', '123']);
    expectReach(got, [...A_RESERVED, ...A_EMERGENCY], ['555', '215', '199', '123']);
  });

  it("4-digit plan: A's calls to B's reserved (stem too) and to numbers starting with an emergency number are hung up", async () => {
    const got = await reached(A, PREFIX_ON_A, [
      ...B_RESERVED,
      ...B_EMERGENCY,
      '5555',
      '1234',
      '1130',
      '7100',
    ]);
    expectReach(got, [...B_RESERVED, ...B_EMERGENCY], ['5555', '1234', '1130', '7100']);
  });
});

describe('with a saved policy listing one number', () => {
  beforeAll(async () => {
    await Promise.all([savePolicy(A, ['555']), savePolicy(B, ['5555'])]);
    // No reconcile asked for: saving the policy re-syncs the dial plan by itself.
    await waitUntil(
      async () =>
        A.generatedConfig().includes('exten => 555,1,Hangup(21)') &&
        B.generatedConfig().includes('exten => 5555,1,Hangup(21)'),
      { what: 'the saved policies in both dial plans', timeoutMs: 20_000 },
    );
    // The file is written before Asterisk reloads it: wait until the dial plan itself has it.
    await waitUntil(
      async () => {
        const [a, b] = await Promise.all([
          A.ami.command(`dialplan show 555@uuru-fed-in-${NAME}`),
          B.ami.command(`dialplan show 5555@uuru-fed-in-${NAME}`),
        ]);
        return a.includes('Hangup(21)') && b.includes('Hangup(21)');
      },
      { what: 'the policy number loaded in both Asterisks' },
    );
  });

  it('3-digit plan: the policy number is hung up besides, not instead of, the reserved and emergency numbers', async () => {
    const got = await reached(B, PREFIX_ON_B, ['555', ...A_RESERVED, ...A_EMERGENCY, '215', '123']);
    expectReach(got, ['555', ...A_RESERVED, ...A_EMERGENCY], ['215', '123']);
  });

  it('4-digit plan: the same', async () => {
    const got = await reached(A, PREFIX_ON_A, ['5555', ...B_RESERVED, ...B_EMERGENCY, '1234', '7100']);
    expectReach(got, ['5555', ...B_RESERVED, ...B_EMERGENCY], ['1234', '7100']);
  });

  it('dial prefixes are checked against the same set: emergency numbers and µURU ranges included', async () => {
    for (const [prefix, why] of [
      ['11', 'the emergency number 110'],
      ['21', 'the reserved range 200-214'],
      ['55', 'the unfederated number 555'],
    ]) {
      const r = await A.sidecar.admin('POST', '/federation/outgoing-requests', {
        name: 'unfed2',
        partner_url: 'http://127.0.0.1:9',
        prefix,
        codec: 'ulaw',
        dialect: 'v1',
      });
      expect([prefix, r.status, r.json]).toEqual([
        prefix,
        409,
        expect.objectContaining({ error: 'PREFIX_CONFLICT', message: `prefix ${prefix} overlaps ${why}` }),
      ]);
    }
  });
});
