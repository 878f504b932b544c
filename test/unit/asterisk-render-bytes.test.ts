import { createHash } from 'node:crypto';
import { loadConfig } from '../../src/config/load-config';
import { unfederatedSet } from '../../src/core/unfederated-numbers';
import { buildDesiredState, renderSettingsFrom } from '../../src/asterisk/desired-state';
import { renderExtensionsFile, renderIax } from '../../src/asterisk/files-renderer';
import type { Peer } from '../../src/store/entities';
import { newPeerRow } from '../harness/peer-row';

/**
 * The generated files must stay byte for byte what they were when the renderer and the desired state were last
 * changed for speed (issue 13): Asterisk holds each friend by its mark, and a changed byte would re-apply every
 * peer. 1,000 peers of every kind the renderer tells apart (fixed secrets, trunk secret epochs in and out of
 * their overlaps, a v1 → v2 upgrade before and after its switch, IPv4, IPv6 and host names, shared addresses,
 * both codecs) are rendered in each mode, and the SHA-256 of everything rendered (the iax text, every mark,
 * every section body, the dial plan) is compared with the digest the renderer of commit 2ffb7d7 gave for the same
 * input, before any of the allocation cuts of the fifth scale pass.
 */

const NOW = Date.UTC(2026, 11, 3, 9, 0, 0);
const secret = (i: number, what: string): string =>
  createHash('sha256').update(`${what}:${i}`).digest('base64url').slice(0, 40);

function rows(): Peer[] {
  return Array.from({ length: 1000 }, (_, i) => {
    const kind = i % 5;
    const host = i % 7 === 0 ? '2001:db8::1' : i % 11 === 0 ? `pbx-${i % 13}.example.org` : `10.0.${i % 3}.1`;
    return newPeerRow(
      {
        id: `id-${i}`,
        name: `peer_${String(i).padStart(4, '0')}`,
        prefix: String(100000 + i),
        partnerUrl: `http://10.0.0.1:${10000 + i}`,
        partnerIaxHost: host,
        partnerIaxPort: 40000 + i,
        partnerExtensionLength: 3 + (i % 4),
        codec: i % 2 === 0 ? 'ulaw' : 'alaw',
        secret: secret(i, 'secret'),
        dialect: 'v2',
        role: i % 3 === 0 ? 'acceptor' : 'requester',
        ...(kind === 1 || kind === 2 || kind === 3 ? { secretEpochSeconds: 3600 + (i % 97) * 60 } : {}),
        ...(kind === 2 ? { nextSecret: secret(i, 'next'), nextSecretFrom: NOW - (i % 2) * 7_200_000 } : {}),
        ...(kind === 3
          ? { previousSecret: secret(i, 'v1'), secretSwitchAt: NOW + (i % 3 === 0 ? 60_000 : -60_000) }
          : {}),
      },
      0,
    );
  });
}

const settings = (backend: 'files' | 'realtime') =>
  renderSettingsFrom(
    loadConfig({
      env: {},
      overrides: {
        instance: { extensionDigits: 4 },
        asterisk: { maxCallsPerPeer: 8, stateBackend: backend },
      },
    }),
    unfederatedSet({ extensionDigits: 4, policy: ['1000', '12*'], reserved: [], emergency: [] }),
  );

function digestOf(backend: 'files' | 'realtime', template: boolean): string {
  const state = buildDesiredState(rows(), settings(backend), { now: NOW, overlapMs: 600_000 });
  const iax = renderIax(state, { template });
  const h = createHash('sha256');
  h.update(iax.text);
  for (const [name, mark] of iax.marks) h.update(`\0${name}\0${mark}`);
  for (const [name, body] of iax.bodies()) h.update(`\0${name}\0${body}`);
  h.update('\0');
  h.update(renderExtensionsFile(state));
  return h.digest('hex');
}

describe('the rendered files, byte for byte', () => {
  it('keeps the files backend render (friends inheriting the template)', () => {
    expect(digestOf('files', true)).toBe('b4849d3b78a8a7c28a7217e6aa2fefe1aa491c1d9fd988e373d093b8dc3e36a3');
  });

  it('keeps the whole-friend render (the realtime preview) and the shared inbound mode', () => {
    expect(digestOf('files', false)).toBe('2cdb8e1af7b38b2a99d62f1e11e9aa2028921336dfdf7348af8023d0be91d699');
    expect(digestOf('realtime', false)).toBe(
      '98efe105be97a1a594191a6f43c041a84063c8649fc75d48e65c783468a61b37',
    );
  });

  it('renders the kinds it is meant to cover', () => {
    const state = buildDesiredState(rows(), settings('files'), { now: NOW, overlapMs: 600_000 });
    const text = renderIax(state).text;
    expect(state.refused).toEqual([]);
    expect(state.peers).toHaveLength(1000);
    // Epoch users, with and without a neighbour epoch; friends sending the v1 secret and accepting it after.
    expect(state.peers.filter((p) => p.epochUsers.length === 2).length).toBeGreaterThan(10);
    expect(state.peers.filter((p) => p.epochUsers.length === 1).length).toBeGreaterThan(10);
    expect(
      state.peers.filter((p) => p.friend.options.filter(([k]) => k === 'secret').length === 2).length,
    ).toBeGreaterThan(10);
    expect(text).toMatch(/^permit=2001:db8::1\/128$/m);
    expect(text).toMatch(/^host=pbx-\d+\.example\.org$/m);
    expect(text).toMatch(/^maxcallnumbers=\d+$/m);
  });
});
