import { stepKey, stepPlace, type PeerListing } from './asterisk-readback';
import { type DesiredState, INBOUND_CONTEXT_PREFIX } from './desired-state';
import type { VerifyReport } from './state-backend';

/**
 * The comparisons of the files backend's verify: what Asterisk was read
 * holding (asterisk-readback.ts) against the desired state and the marks of
 * its render. No I/O.
 */

/**
 * The IAX2 side of verify: every owned peer shows its current mark, and no
 * other mark of ours is loaded. A mark covers the friend's name and every
 * option (host, port, secret, codec ...), so it proves more than the name
 * and port that Asterisk's peer lists show. `leftOut` gives why a peer was
 * not written (a clash with a hand-written section); `nameOfMark` names a
 * mark of the recent renders.
 */
export function checkPeers(
  state: DesiredState,
  listing: PeerListing,
  marks: Map<string, string>,
  leftOut: (peerName: string) => string | undefined,
  nameOfMark: (mark: string) => string | undefined,
): VerifyReport {
  const report: VerifyReport = { peerErrors: new Map(), problems: [] };
  const wanted = new Set<string>();
  for (const p of state.peers) {
    const conflict = leftOut(p.peer.name);
    if (conflict) {
      report.peerErrors.set(p.peer.name, conflict);
      continue;
    }
    const mark = marks.get(p.friend.name) ?? '';
    wanted.add(mark);
    if (!listing.has(mark)) {
      report.peerErrors.set(
        p.peer.name,
        'Asterisk does not hold the current version of the IAX2 peer: not loaded, or loaded from an older ' +
          'version of its section (see the Asterisk log)',
      );
    }
  }
  const current = new Set(state.peers.map((p) => p.friend.name));
  for (const [mark, count] of listing) {
    if (wanted.has(mark) && count === 1) continue;
    const name = nameOfMark(mark);
    if (wanted.has(mark)) {
      report.problems.push(`${count} IAX2 peers carry the mark of ${name ?? mark}`);
      continue;
    }
    // An older version of a wanted peer is that peer's error already.
    if (name !== undefined && current.has(name)) continue;
    report.problems.push(
      name === undefined
        ? `an IAX2 peer with a mark no current peer has (${mark}) is still loaded`
        : `removed peer ${name} is still loaded`,
    );
  }
  return report;
}

/**
 * The dial plan side of verify, added to `report`: every step of every peer
 * without an error yet is loaded, and no context or outbound pattern of ours
 * that `owned` (the peers written) no longer has. Returns whether the loaded
 * dial plan is exactly what was wanted.
 */
export function checkDialplan(
  state: DesiredState,
  owned: DesiredState,
  dialplan: Set<string>,
  report: VerifyReport,
): boolean {
  let dialplanOk = true;
  for (const p of state.peers) {
    if (report.peerErrors.has(p.peer.name)) continue;
    const missing = p.steps.find((s) => !dialplan.has(stepKey(s.context, s.exten, s.priority, s.app)));
    if (missing) {
      dialplanOk = false;
      report.peerErrors.set(
        p.peer.name,
        `dial plan step ${missing.exten},${missing.priority} in ${missing.context} is not loaded`,
      );
    }
  }
  const wantedContexts = new Set(owned.peers.map((p) => p.inboundContext));
  const wantedOutbound = new Set(owned.peers.map((p) => p.outboundExten));
  for (const key of dialplan) {
    const { context, exten } = stepPlace(key);
    if (context.startsWith(INBOUND_CONTEXT_PREFIX) && !wantedContexts.has(context)) {
      dialplanOk = false;
      report.problems.push(`removed context ${context} is still loaded`);
    } else if (context === state.outboundContext && !wantedOutbound.has(exten)) {
      dialplanOk = false;
      report.problems.push(`removed outbound pattern ${exten} is still loaded`);
    }
  }
  return dialplanOk;
}
