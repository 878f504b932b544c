import { buildDesiredState } from '../../src/asterisk/desired-state';
import { epochSecret, secretSwitchPhaseAt, secretSwitchPhasesKey } from '../../src/core/trunk-secret-epochs';
import { peerSummary, peerView } from '../../src/federation/views';
import { peerView as peerViewSchema } from '../../src/http/admin/api-schemas';
import { newPeerRow } from '../harness/peer-row';
import { checkUpgradeAnswer, upgradeBinding, upgradeBindingText } from '../../src/federation/v1-upgrade';
import { EPOCH_MS, EPOCH_PEER, EPOCH_S, RENDER_SETTINGS, ROOT } from './fixtures/epochs';

const V1 = 'V1secretV1secretV1secretV1secret';
const LEN = EPOCH_MS;
const W = 60_000;
/** The switch moment: the middle of epoch 700, far from its boundaries. */
const S = 700 * LEN + LEN / 2;

/** The example peer on epochs after a v1 upgrade: the v1 secret is sent until the switch. */
const row = { ...EPOCH_PEER, previousSecret: V1, secretSwitchAt: S };

describe('v1 → v2 upgrade: the switch from the v1 secret', () => {
  it('has a phase only while a previous secret is kept: before the switch, for the overlap after it, then done', () => {
    expect(secretSwitchPhaseAt(row, S - 1, W)).toBe('before');
    expect(secretSwitchPhaseAt(row, S, W)).toBe('after');
    expect(secretSwitchPhaseAt(row, S + W - 1, W)).toBe('after');
    expect(secretSwitchPhaseAt(row, S + W, W)).toBe('done');
    expect(secretSwitchPhaseAt({ previousSecret: null, secretSwitchAt: S }, S, W)).toBeNull();
    const key = (t: number) =>
      secretSwitchPhasesKey([row, { ...row, name: 'p2', previousSecret: null }], t, W);
    expect(key(S - 1)).toBe('p1:before');
    expect(key(S)).not.toBe(key(S - 1));
    expect(key(S + W)).not.toBe(key(S));
  });

  it('sends the v1 secret under the peering name before the switch, then the epoch secret with the v1 one still accepted first', () => {
    const at = (now: number) => {
      const p = buildDesiredState([row], RENDER_SETTINGS, { now, overlapMs: W }).peers[0];
      const opt = (o: [string, string][], k: string) => o.find(([key]) => key === k)?.[1];
      return {
        username: opt(p.friend.options, 'username'),
        secrets: p.friend.options.filter(([k]) => k === 'secret').map(([, v]) => v),
        users: p.epochUsers.map((u) => [u.name, opt(u.options, 'secret')]),
      };
    };
    const e700 = epochSecret(ROOT, 700);
    // Before: the friend is the v1 trunk as it was; the partner's v2 secret is accepted by the epoch user.
    expect(at(S - 1)).toEqual({ username: 'p1', secrets: [V1], users: [['p1-e0', e700]] });
    // After: the epoch secret is sent (last line) under the epoch user name; v1 still accepted (first line).
    expect(at(S + 1)).toEqual({ username: 'p1-e0', secrets: [V1, e700], users: [['p1-e0', e700]] });
    // Done: a plain v2 trunk on epochs; the v1 secret is nowhere.
    expect(at(S + W)).toEqual({ username: 'p1-e0', secrets: [e700], users: [['p1-e0', e700]] });
  });

  it('with realtime rows (one secret each), the switch overlap dials the sent epoch row made a whole friend and keeps the v1 secret on the peering name', () => {
    const realtime = { ...RENDER_SETTINGS, inboundMode: 'shared' as const };
    const at = (now: number) => {
      const p = buildDesiredState([row], realtime, { now, overlapMs: W }).peers[0];
      const opt = (o: [string, string][], k: string) => o.filter(([key]) => key === k).map(([, v]) => v);
      const obj = (f: { name: string; options: [string, string][] }) => ({
        name: f.name,
        type: opt(f.options, 'type'),
        host: opt(f.options, 'host'),
        username: opt(f.options, 'username'),
        secret: opt(f.options, 'secret'),
      });
      return { dial: p.steps[0].appData, rows: [p.friend, ...p.epochUsers].map(obj) };
    };
    const e700 = epochSecret(ROOT, 700);
    const host = [EPOCH_PEER.partnerIaxHost];
    const v1Friend = { name: 'p1', type: ['friend'], host, username: ['p1'], secret: [V1] };
    const epochUser = { name: 'p1-e0', type: ['user'], host: [], username: [], secret: [e700] };
    expect(at(S - 1)).toEqual({ dial: 'IAX2/p1/${EXTEN:-4}', rows: [v1Friend, epochUser] });
    // After: every row one secret; the v1 one stays on p1 (a partner not yet switched calls as p1 with it),
    // the sent one is on p1-e0, a friend now, and dialled.
    expect(at(S + 1)).toEqual({
      dial: 'IAX2/p1-e0/${EXTEN:-4}',
      rows: [v1Friend, { name: 'p1-e0', type: ['friend'], host, username: ['p1-e0'], secret: [e700] }],
    });
    // Done: p1 is the plain v2 friend again, dialled; p1-e0 a user.
    expect(at(S + W)).toEqual({
      dial: 'IAX2/p1/${EXTEN:-4}',
      rows: [{ ...v1Friend, username: ['p1-e0'], secret: [e700] }, epochUser],
    });
  });

  it('binds a proposal to every field and to the v1 secret', () => {
    const base = {
      step: 'propose' as const,
      name: 'p1',
      requestId: 'req-1',
      proposer: 'a.example',
      acceptor: 'b.example',
      agreementKid: 'x1',
      agreementPublicKey: 'pub',
      secretEpochSeconds: EPOCH_S,
      switchAt: '2026-01-01T00:00:00.000Z',
    };
    const mac = upgradeBinding(V1, upgradeBindingText(base));
    expect(mac).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(upgradeBinding(V1, upgradeBindingText(base))).toBe(mac);
    expect(upgradeBinding('x'.repeat(32), upgradeBindingText(base))).not.toBe(mac);
    for (const change of [
      { step: 'accept' as const },
      { name: 'p2' },
      { requestId: 'req-2' },
      { proposer: 'evil.example' },
      { acceptor: 'c.example' },
      { agreementKid: 'x2' },
      { agreementPublicKey: 'other' },
      { secretEpochSeconds: 60 },
      { switchAt: '2026-01-01T00:00:01.000Z' },
    ]) {
      expect(upgradeBinding(V1, upgradeBindingText({ ...base, ...change }))).not.toBe(mac);
    }
  });

  it("the proposer takes the answer's terms only when they are its own, or an earlier agreement's within bounds", () => {
    const now = Date.parse('2026-06-01T12:00:00.000Z');
    const proposed = { switchAt: new Date(now + 600_000).toISOString(), secretEpochSeconds: EPOCH_S };
    const bounds = { createdAt: now - 90 * 86_400_000, now };
    const answer = (switchAt: number, length = EPOCH_S) => ({
      switch_at: new Date(switchAt).toISOString(),
      secret_epoch_seconds: length,
    });
    expect(() => checkUpgradeAnswer(proposed, answer(now + 600_000), bounds)).not.toThrow();
    // A repeat: the moment (and length) agreed for an earlier proposal whose answer was lost.
    expect(() => checkUpgradeAnswer(proposed, answer(now - 86_400_000, 7 * 86_400), bounds)).not.toThrow();
    // Before the peering existed, or further ahead than any acceptor agrees to: refused.
    expect(() => checkUpgradeAnswer(proposed, answer(bounds.createdAt - 3_600_000), bounds)).toThrow(
      /switch_at/,
    );
    expect(() => checkUpgradeAnswer(proposed, answer(now + 3 * 86_400_000), bounds)).toThrow(/switch_at/);
    // An epoch length the protocol does not allow: refused.
    expect(() => checkUpgradeAnswer(proposed, answer(now + 600_000, 30), bounds)).toThrow(/epoch length/);
    expect(() => checkUpgradeAnswer(proposed, answer(now + 600_000, 20 * 366 * 86_400), bounds)).toThrow(
      /epoch length/,
    );
  });

  it('the peer view says which secret is sent around the switch, as Asterisk is given it, and the API schema takes it', () => {
    const peer = newPeerRow(
      { ...row, partnerUrl: 'https://partner.example', dialect: 'v2', role: 'requester' },
      S - LEN,
    );
    const view = (now: number) =>
      peerView(peerSummary(peer), undefined, { now, overlapMs: W }).trunk_rotation;
    const sent = (now: number) => {
      const p = buildDesiredState([row], RENDER_SETTINGS, { now, overlapMs: W }).peers[0];
      return p.friend.options
        .filter(([k]) => k === 'secret')
        .map(([, v]) => v)
        .at(-1);
    };
    const switchAt = new Date(S).toISOString();
    // Before the switch: the v1 secret is what Asterisk sends, and what the view says.
    expect(sent(S - 1)).toBe(V1);
    expect(view(S - 1)).toMatchObject({ sends: 'v1', switch_at: switchAt, epoch: 700 });
    expect(sent(S + 1)).toBe(epochSecret(ROOT, 700));
    expect(view(S + 1)).toMatchObject({ sends: 'epoch', switch_at: switchAt });
    expect(view(S + W)).toMatchObject({ sends: 'epoch', switch_at: null });
    expect(
      peerView(peerSummary({ ...peer, previousSecret: null, secretSwitchAt: null }), undefined, {
        now: S - 1,
        overlapMs: W,
      }).trunk_rotation,
    ).toMatchObject({ sends: 'epoch', switch_at: null });
    expect(peerViewSchema.shape.trunk_rotation.parse(view(S - 1))).toEqual(view(S - 1));
  });
});
