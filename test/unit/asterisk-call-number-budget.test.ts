/**
 * Regression: chan_iax2's per-peer `maxcallnumbers` is the call-number budget
 * of the peer's address, shared by all peers there, and every dialog (calls
 * and each qualify POKE) holds its number until 60 s after it ended. Written
 * as maxCallsPerPeer (32) it ran out in the convergence bench under a 1 s
 * qualify frequency, and calls to an applied peer failed with "Allocation
 * failed" for up to a minute. The budget must cover the concurrent calls, the
 * quarantine of ended ones and of every probe, and add up over an address.
 */
import { buildDesiredState, callNumberBudget, renderSettingsFrom } from '../../src/asterisk/desired-state';
import { loadConfig } from '../../src/config/load-config';
import { unfederatedSet } from '../../src/core/unfederated-numbers';
import type { Peer } from '../../src/store/entities';
import { newPeerRow } from '../harness/peer-row';

const settings = (asterisk: Record<string, unknown>) =>
  renderSettingsFrom(
    loadConfig({ env: {}, overrides: { instance: { extensionDigits: 4 }, asterisk } }),
    unfederatedSet({ extensionDigits: 4, policy: [], reserved: [], emergency: [] }),
  );

let seq = 0;
const peer = (name: string, host: string): Peer => {
  seq++;
  return newPeerRow(
    {
      id: `id-${seq}`,
      name,
      prefix: String(100 + seq),
      partnerUrl: 'http://127.0.0.1:1',
      partnerServerName: '127.0.0.1:1',
      partnerIaxHost: host,
      partnerIaxPort: 4570 + seq,
      codec: 'ulaw',
      secret: 'Abcdefghijklmnopqrstuvwxyz012345',
      dialect: 'v2',
      requestId: `r-${seq}`,
      role: 'acceptor',
    },
    0,
  );
};

const budgetOf = (state: ReturnType<typeof buildDesiredState>, name: string): number =>
  Number(
    state.peers.find((p) => p.peer.name === name)?.friend.options.find(([k]) => k === 'maxcallnumbers')?.[1],
  );

describe('IAX2 call-number budget (maxcallnumbers)', () => {
  it('covers a minute of qualify probes at the fastest frequency on top of the calls', () => {
    // The bench's settings: a probe a second is 61 numbers within the 60 s quarantine.
    const fast = settings({ maxCallsPerPeer: 32, qualifyFreqOkMs: 2000, qualifyFreqNotOkMs: 1000 });
    expect(callNumberBudget(fast)).toBe(2 * 32 + 61);
    expect(callNumberBudget(fast)).toBeGreaterThan(32 + 60);
    // Defaults: 60 s when reachable, 10 s when not: 7 probes within the quarantine.
    const defaults = settings({ maxCallsPerPeer: 32 });
    expect(callNumberBudget(defaults)).toBe(2 * 32 + 7);
  });

  it('writes the budget on the friend, and the sum over the peers that share an address', () => {
    const s = settings({ maxCallsPerPeer: 4, qualifyFreqOkMs: 5000, qualifyFreqNotOkMs: 5000 });
    const one = 2 * 4 + 13;
    const state = buildDesiredState(
      [
        peer('alone', '127.0.0.2'),
        peer('shared_a', '127.0.0.1'),
        peer('shared_b', '127.0.0.1'),
        peer('shared_c', '127.0.0.1'),
      ],
      s,
    );
    expect(budgetOf(state, 'alone')).toBe(one);
    for (const name of ['shared_a', 'shared_b', 'shared_c']) expect(budgetOf(state, name)).toBe(3 * one);
  });

  it('stays within what chan_iax2 can hold', () => {
    const s = settings({ maxCallsPerPeer: 10_000, qualifyFreqOkMs: 500, qualifyFreqNotOkMs: 500 });
    expect(callNumberBudget(s)).toBe(16_384);
  });
});
