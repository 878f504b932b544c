import type { Clock } from '../core/clock';
import { errorMessage } from '../core/errors';
import type { Metrics } from '../core/metrics';
import type { Logger } from '../logging/logger';
import type { AsteriskPeerRows, LinkRow, PeerPatch } from '../core/asterisk-peers';
import type { Reachability } from '../store/entities';
import type { AmiLink, AmiMessage, IaxPeerView } from './asterisk-links';
import { PeerPatchBatch } from './peer-patch-batch';
import type { Job } from '../jobs/job';
import { type Notifier, silentNotifier } from '../core/notifications';
import { TrunkHysteresis } from './trunk-hysteresis';
import { StoppableFlight } from '../jobs/single-flight';

/** Refresh last_seen of a steadily reachable peer at most this often, to spare the DB. */
const LAST_SEEN_REFRESH_MS = 60_000;

/** Jitter of a millisecond or two is not worth a DB write; a real move is. */
function latencyMoved(before: number | null, after: number | null): boolean {
  if (before === null || after === null) return before !== after;
  return Math.abs(after - before) >= Math.max(5, before * 0.2);
}

export interface Observation {
  reachability: Reachability;
  latencyMs: number | null;
  error: string | null;
}

export function observationFromEntry(e: IaxPeerView | undefined): Observation {
  if (!e) return { reachability: 'unknown', latencyMs: null, error: 'not loaded in Asterisk' };
  switch (e.state) {
    case 'ok':
      return { reachability: 'reachable', latencyMs: e.latencyMs, error: null };
    case 'lagged':
      return { reachability: 'lagged', latencyMs: e.latencyMs, error: `lagged: ${e.status}` };
    case 'unreachable':
      return { reachability: 'unreachable', latencyMs: null, error: 'no answer to IAX2 qualify probes' };
    case 'unmonitored':
      return { reachability: 'unmonitored', latencyMs: null, error: null };
    default:
      return { reachability: 'unknown', latencyMs: null, error: null };
  }
}

/**
 * Keeps each peer's reachability, latency, last_seen and link_error current:
 * polls IAXpeerlist (the only source of latency for IAX2) and reacts at once
 * to AMI PeerStatus / ARI PeerStatusChange by polling early. Writes a Peer row
 * only when something changed. In realtime mode peers are never qualified, so
 * they are marked unmonitored and nothing is polled.
 */
export class PeerMonitor {
  /** Polls never overlap; requests during one fold into one more poll after it (not once stopped). */
  private readonly polls = new StoppableFlight(() => this.pollLogged(), { stopped: true });
  /** The periodic poll, for the app's JobRunner: jobs.monitorPollMs after the previous one ended. */
  readonly job: Job;

  constructor(
    private readonly deps: {
      /** The peers, from the composition (src/store/peer-rows.ts). */
      rows: AsteriskPeerRows;
      ami: AmiLink;
      clock: Clock;
      logger: Logger;
      metrics: Metrics;
      pollMs: number;
      monitorable: boolean;
      /** Told once per trunk change (down, up again), after the hysteresis. */
      notifier?: Notifier;
      /** Consecutive polls before a trunk counts as down / up again (config.notify; default 3 / 2). */
      hysteresis?: { downAfter: number; upAfter: number };
      /**
       * Replicas sharing this Asterisk node: false while another replica holds the node's lease (it samples
       * the node, as it reconciles it); a poll then reads and writes nothing. Unset: always samples.
       */
      sampling?: () => boolean;
    },
  ) {
    this.job = { name: 'peer-monitor', schedule: { gapMs: deps.pollMs }, run: () => this.pollSoon() };
    this.trunks = new TrunkHysteresis(deps.hysteresis ?? { downAfter: 3, upAfter: 2 });
  }

  /** Each trunk's told state (up / down / unknown) behind the hysteresis. */
  readonly trunks: TrunkHysteresis;

  /** Peer status events received, by source (diagnostics and tests: is the ARI subscription live?). */
  readonly eventsSeen = { ami: 0, ari: 0 };

  private readonly onPeerEvent = (): void => {
    this.eventsSeen.ami++;
    void this.pollSoon();
  };

  start(): void {
    this.polls.start();
    this.deps.ami.on('PeerStatus', this.onPeerEvent);
  }

  /** Also called for ARI PeerStatusChange events (wired in index.ts). */
  peerEvent(_m?: AmiMessage): void {
    this.eventsSeen.ari++;
    void this.pollSoon();
  }

  async stop(): Promise<void> {
    this.deps.ami.off('PeerStatus', this.onPeerEvent);
    await this.polls.stop();
  }

  /** One poll now; overlapping requests fold into one extra poll. Never rejects. */
  pollSoon(): Promise<void> {
    return this.polls.trigger();
  }

  private async pollLogged(): Promise<void> {
    try {
      await this.pollOnce();
    } catch (e) {
      this.deps.logger.debug('monitor poll failed', { component: 'asterisk', error: errorMessage(e) });
    }
  }

  async pollOnce(): Promise<void> {
    const { rows, ami, clock, monitorable, sampling } = this.deps;
    if (sampling && !sampling()) return;
    const peers = await rows.readLinks();
    // One timestamp per poll, so that equal patches group into one statement.
    let now = clock.now();
    const writes = new PeerPatchBatch();
    if (!monitorable) {
      for (const p of peers)
        this.observe(p, { reachability: 'unmonitored', latencyMs: null, error: null }, writes, now);
    } else if (ami.state !== 'connected') {
      for (const p of peers) {
        this.observe(
          p,
          { reachability: 'unknown', latencyMs: null, error: 'Asterisk is not connected' },
          writes,
          now,
        );
      }
    } else {
      const list = new Map((await ami.iaxPeerList()).map((e) => [e.name, e]));
      now = clock.now();
      for (const p of peers) this.observe(p, observationFromEntry(list.get(p.name)), writes, now);
    }
    this.trunks.retain(new Set(peers.map((p) => p.name)));
    await writes.flush(rows);
  }

  /** Tells a trunk's change once: down (also from unknown, e.g. still down after a restart) and up again. */
  private tell(p: LinkRow, o: Observation, now: number): void {
    const change = this.trunks.observe(p.name, o.reachability);
    if (!change || (change.from === 'unknown' && change.to === 'up')) return;
    const down = change.to === 'down';
    (this.deps.notifier ?? silentNotifier).notify({
      kind: 'trunk',
      severity: down ? 'warning' : 'info',
      peer: p.name,
      partner: null,
      oldState: change.from,
      newState: change.to,
      at: now,
      message: down ? `trunk ${p.name} is down: ${o.error ?? o.reachability}` : `trunk ${p.name} is up again`,
      details: {
        polls: change.polls,
        reachability: o.reachability,
        reason: down ? (o.error ?? null) : null,
        latency_seconds: o.latencyMs === null ? null : o.latencyMs / 1000,
        last_seen: down && p.lastSeen !== null ? new Date(p.lastSeen).toISOString() : null,
      },
    });
  }

  private observe(p: LinkRow, o: Observation, writes: PeerPatchBatch, now: number): void {
    const { metrics } = this.deps;
    metrics.setPeerReachability(p.name, o.reachability, o.latencyMs);
    this.tell(p, o, now);
    const seen = o.reachability === 'reachable' || o.reachability === 'lagged';
    const patch: PeerPatch = {};
    if (p.reachability !== o.reachability) patch.reachability = o.reachability;
    if (latencyMoved(p.latencyMs, o.latencyMs) || (patch.reachability && p.latencyMs !== o.latencyMs)) {
      patch.latencyMs = o.latencyMs;
    }
    // Sticky: a recovered trunk keeps its last problem for the admin. Its time is when the link went
    // into it, so a repeat of the same problem after a recovery moves the time too.
    if (o.error !== null && (p.linkError !== o.error || patch.reachability)) {
      if (p.linkError !== o.error) patch.linkError = o.error;
      patch.linkErrorAt = now;
    }
    if (seen && (p.lastSeen === null || now - p.lastSeen >= LAST_SEEN_REFRESH_MS || patch.reachability)) {
      patch.lastSeen = now;
    }
    if (Object.keys(patch).length === 0) return;
    writes.add(p.id, patch);
  }
}
