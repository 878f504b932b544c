import type { Reachability } from '../store/entities';

/** A trunk as it is told about: `unknown` until enough polls agree, then `up` or `down`. */
export type TrunkState = 'unknown' | 'up' | 'down';

export interface TrunkChange {
  peer: string;
  from: TrunkState;
  to: TrunkState;
  /** Consecutive polls that agreed on the new state. */
  polls: number;
}

/**
 * Hysteresis over the monitor's polls (Kamailio's dispatcher keeps separate
 * down and up thresholds the same way): a trunk goes `down` after
 * `downAfter` consecutive polls that found it unreachable, and `up` after
 * `upAfter` consecutive polls that found it reachable (or lagged: it
 * answers). A poll that cannot tell (Asterisk not connected, the peer not
 * loaded, realtime peers that are never qualified) counts for neither and
 * breaks no streak. A flap shorter than the threshold changes nothing, and
 * a change is reported once, when it happens. The states live in memory:
 * after a restart a trunk starts `unknown`, so a trunk that is still down is
 * reported again once (unknown → down), while one that comes up from
 * `unknown` is not a recovery and is not reported.
 */
export class TrunkHysteresis {
  private readonly trunks = new Map<string, { state: TrunkState; good: number; bad: number }>();

  constructor(private readonly opts: { downAfter: number; upAfter: number }) {}

  /** One poll's finding for a peer; returns the change it completes, if any. */
  observe(peer: string, reachability: Reachability): TrunkChange | null {
    const verdict =
      reachability === 'reachable' || reachability === 'lagged'
        ? 'good'
        : reachability === 'unreachable'
          ? 'bad'
          : null;
    if (verdict === null) return null;
    let t = this.trunks.get(peer);
    if (!t) {
      t = { state: 'unknown', good: 0, bad: 0 };
      this.trunks.set(peer, t);
    }
    if (verdict === 'good') {
      t.good++;
      t.bad = 0;
      if (t.state !== 'up' && t.good >= this.opts.upAfter) return this.move(peer, t, 'up', t.good);
    } else {
      t.bad++;
      t.good = 0;
      if (t.state !== 'down' && t.bad >= this.opts.downAfter) return this.move(peer, t, 'down', t.bad);
    }
    return null;
  }

  state(peer: string): TrunkState {
    return this.trunks.get(peer)?.state ?? 'unknown';
  }

  /** Forgets the peers not in `present` (removed trunks). */
  retain(present: ReadonlySet<string>): void {
    for (const peer of this.trunks.keys()) if (!present.has(peer)) this.trunks.delete(peer);
  }

  private move(peer: string, t: { state: TrunkState }, to: TrunkState, polls: number): TrunkChange {
    const from = t.state;
    t.state = to;
    return { peer, from, to, polls };
  }
}
