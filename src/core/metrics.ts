import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { buildVersion } from './build-info';
import { ASTERISK_LINK_STATES, type AsteriskLinkState } from './asterisk-port';
import { QUALITY_DIRECTIONS, type TrunkQualitySample } from './trunk-quality';

/**
 * Prometheus instruments, one registry per App (so tests can run several
 * instances in one process). Layers receive the Metrics object and update it;
 * GET /metrics renders the registry. Names follow Prometheus conventions
 * (docs/metrics.md): base units (seconds, Unix timestamps in seconds),
 * counters end in _total, a state is one 0/1 series per possible value.
 */

/** A trunk's reachability as the monitor records it (peers.reachability). */
export const PEER_STATES = ['reachable', 'lagged', 'unreachable', 'unknown', 'unmonitored'] as const;
/** Whether Asterisk holds the peer as stored (peers.apply_state). */
export const APPLY_STATES = ['pending', 'applied', 'failed'] as const;
/**
 * A test call: answered; failed (handed to Asterisk, not answered: refused,
 * no answer, timed out); not placed (the peer is not loaded, ARI is down).
 */
export const TEST_CALL_RESULTS = ['answered', 'failed', 'not_placed'] as const;
/** The anti-entropy check of a peering with its partner: the partner answered, or not. */
export const PARTNER_CHECK_RESULTS = ['ok', 'error'] as const;

export type TestCallOutcome = (typeof TEST_CALL_RESULTS)[number];

/** One 0/1 series per state, exactly one of them 1 (an unexpected value counts as `fallback`). */
function setStateSet<S extends string>(
  gauge: Gauge<'peer' | 'state'>,
  peer: string,
  states: readonly S[],
  current: string,
  fallback: S,
): void {
  const on = (states as readonly string[]).includes(current) ? current : fallback;
  for (const state of states) gauge.set({ peer, state }, state === on ? 1 : 0);
}

export class Metrics {
  readonly registry = new Registry();

  readonly buildInfo = new Gauge({
    name: 'uuru_fed_build_info',
    help: 'Always 1; the version label is the running sidecar version',
    labelNames: ['version'],
    registers: [this.registry],
  });
  readonly peerState = new Gauge({
    name: 'uuru_fed_peer_state',
    help: 'Trunk state per peer, one series per state: 1 for the current state, 0 for the others',
    labelNames: ['peer', 'state'],
    registers: [this.registry],
  });
  readonly peerLatency = new Gauge({
    name: 'uuru_fed_peer_latency_seconds',
    help: 'Last measured IAX2 qualify latency per peer, seconds (absent while none is measured)',
    labelNames: ['peer'],
    registers: [this.registry],
  });
  readonly peerLastSeen = new Gauge({
    name: 'uuru_fed_peer_last_seen_timestamp_seconds',
    help: 'When the trunk last answered a qualify probe, Unix time in seconds (absent if never)',
    labelNames: ['peer'],
    registers: [this.registry],
  });
  readonly peerApplyState = new Gauge({
    name: 'uuru_fed_peer_apply_state',
    help: 'Whether Asterisk holds the peer as stored, one series per state: 1 for the current state, 0 for the others',
    labelNames: ['peer', 'state'],
    registers: [this.registry],
  });
  readonly testCalls = new Counter({
    name: 'uuru_fed_test_calls_total',
    help: 'Test calls per peer by result (answered, failed, not_placed)',
    labelNames: ['peer', 'result'],
    registers: [this.registry],
  });
  readonly testCallSetup = new Histogram({
    name: 'uuru_fed_test_call_setup_seconds',
    help: 'Setup time of answered test calls (originate to answer), seconds',
    labelNames: ['peer'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly partnerChecks = new Counter({
    name: 'uuru_fed_partner_checks_total',
    help: "Anti-entropy checks of a peering with its partner (GET of the peering's state) by result",
    labelNames: ['peer', 'result'],
    registers: [this.registry],
  });
  readonly keyExpiry = new Gauge({
    name: 'uuru_fed_key_expiry_timestamp_seconds',
    help: 'When each of our own keys (not yet retired) expires, Unix time in seconds',
    labelNames: ['kid', 'alg', 'status'],
    registers: [this.registry],
  });
  readonly peerKeyExpiry = new Gauge({
    name: 'uuru_fed_peer_key_expiry_timestamp_seconds',
    help: "When the partner's last trusted signing key expires, per peer, Unix time in seconds (absent when the partner's keys carry no expiry, e.g. v1 peers)",
    labelNames: ['peer'],
    registers: [this.registry],
  });
  readonly notifications = new Counter({
    name: 'uuru_fed_notifications_total',
    help: 'Notifications to the webhook by result: sent (answered 2xx), failed (given up after the last attempt), dropped (pushed out of a full queue)',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly notificationQueueDepth = new Gauge({
    name: 'uuru_fed_notification_queue_depth',
    help: 'Notifications waiting for the webhook, the one being sent included',
    registers: [this.registry],
  });
  readonly federationRequests = new Counter({
    name: 'uuru_fed_federation_requests_total',
    help: 'Federation and legacy API requests by endpoint and result code',
    labelNames: ['endpoint', 'code'],
    registers: [this.registry],
  });
  readonly signatureFailures = new Counter({
    name: 'uuru_fed_signature_failures_total',
    help: 'Refused signed requests by reason code',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly outboxDepth = new Gauge({
    name: 'uuru_fed_outbox_depth',
    help: 'Notifications waiting for delivery',
    registers: [this.registry],
  });
  readonly outboxOldestAge = new Gauge({
    name: 'uuru_fed_outbox_oldest_age_seconds',
    help: 'Age of the oldest undelivered notification, seconds',
    registers: [this.registry],
  });
  readonly reconcileRuns = new Counter({
    name: 'uuru_fed_reconcile_runs_total',
    help: 'Reconciler runs by result',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly driftRepaired = new Counter({
    name: 'uuru_fed_drift_repaired_total',
    help: 'Asterisk objects added, changed or removed by the reconciler',
    labelNames: ['action'],
    registers: [this.registry],
  });
  readonly reloads = new Counter({
    name: 'uuru_fed_asterisk_reloads_total',
    help: 'Module reloads requested by the sidecar',
    labelNames: ['module', 'result'],
    registers: [this.registry],
  });
  readonly reloadDuration = new Histogram({
    name: 'uuru_fed_asterisk_reload_duration_seconds',
    help: 'Duration of module reloads, seconds',
    labelNames: ['module'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly connectionUp = new Gauge({
    name: 'uuru_fed_asterisk_connection_up',
    help: 'AMI / ARI connection state: 1 connected, 0 not',
    labelNames: ['link'],
    registers: [this.registry],
  });
  readonly linkState = new Gauge({
    name: 'uuru_fed_asterisk_link_state',
    help: 'AMI / ARI link state: 1 for the state the link is in, 0 for the others (unreachable, wrong_port and login_refused say why it is not connected)',
    labelNames: ['link', 'state'],
    registers: [this.registry],
  });
  readonly trunkRtt = new Gauge({
    name: 'uuru_fed_trunk_rtt_seconds',
    help: 'Round trip of the IAX2 trunk during its last call or quality probe, seconds (IAX2 PING/PONG; absent until measured)',
    labelNames: ['peer'],
    registers: [this.registry],
  });
  readonly trunkJitter = new Gauge({
    name: 'uuru_fed_trunk_jitter_seconds',
    help: 'Jitter on the IAX2 trunk during its last call or quality probe, seconds; direction inbound (partner to us) or outbound (us to partner, as the partner reports it); absent until measured',
    labelNames: ['peer', 'direction'],
    registers: [this.registry],
  });
  readonly trunkLoss = new Gauge({
    name: 'uuru_fed_trunk_loss_ratio',
    help: 'Fraction of media frames lost on the IAX2 trunk during its last call or quality probe (0..1), by direction; absent until measured',
    labelNames: ['peer', 'direction'],
    registers: [this.registry],
  });
  readonly trunkQualityTime = new Gauge({
    name: 'uuru_fed_trunk_quality_timestamp_seconds',
    help: 'When the trunk quality figures were last measured, Unix time in seconds (absent if never)',
    labelNames: ['peer'],
    registers: [this.registry],
  });
  readonly trunkActiveCalls = new Gauge({
    name: 'uuru_fed_trunk_active_calls',
    help: 'IAX2 channels up on the trunk now (calls and quality probes), from Asterisk',
    labelNames: ['peer'],
    registers: [this.registry],
  });
  readonly jobRuns = new Counter({
    name: 'uuru_fed_job_runs_total',
    help: 'Runs of background jobs (src/jobs) by job and result',
    labelNames: ['job', 'result'],
    registers: [this.registry],
  });
  readonly jobDuration = new Histogram({
    name: 'uuru_fed_job_duration_seconds',
    help: 'Duration of background job runs, seconds',
    labelNames: ['job'],
    buckets: [0.005, 0.025, 0.1, 0.5, 2.5, 10, 60],
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    // Node's standard process metrics under their usual names (process_*, nodejs_*).
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry });
    this.buildInfo.set({ version: buildVersion() }, 1);
  }

  /** A trunk's reachability and latency as last observed (latency null: not measured, no series). */
  setPeerReachability(peer: string, reachability: string, latencyMs: number | null): void {
    setStateSet(this.peerState, peer, PEER_STATES, reachability, 'unknown');
    if (latencyMs === null) this.peerLatency.remove({ peer });
    else this.peerLatency.set({ peer }, latencyMs / 1000);
  }

  /** A test call's outcome; the setup time is observed for answered calls. */
  countTestCall(peer: string, result: { answered: boolean; setupMs: number | null }, placed: boolean): void {
    const outcome: TestCallOutcome = result.answered ? 'answered' : placed ? 'failed' : 'not_placed';
    this.testCalls.inc({ peer, result: outcome });
    if (result.answered && result.setupMs !== null)
      this.testCallSetup.observe({ peer }, result.setupMs / 1000);
  }

  /**
   * Brings the per-peer series in line with the configured peers: every peer
   * has all its series (counters at 0, a state for each value) from the
   * moment it exists, and a removed peer loses them. Called on every scrape
   * with the Peer rows.
   */
  async syncPeers(
    peers: readonly {
      name: string;
      reachability: string;
      latencyMs: number | null;
      lastSeen: number | null;
      applyState: string;
    }[],
  ): Promise<void> {
    const names = new Set(peers.map((p) => p.name));
    // Counters and histograms keep their counts; only removed peers' series go.
    for (const [metric, results] of [
      [this.testCalls, TEST_CALL_RESULTS],
      [this.partnerChecks, PARTNER_CHECK_RESULTS],
    ] as const) {
      const present = new Set<string>();
      for (const v of (await metric.get()).values) {
        const peer = String(v.labels.peer);
        if (names.has(peer)) present.add(`${peer}\n${String(v.labels.result)}`);
        else metric.remove({ peer, result: String(v.labels.result) });
      }
      for (const peer of names) {
        for (const result of results) if (!present.has(`${peer}\n${result}`)) metric.inc({ peer, result }, 0);
      }
    }
    // The setup-time histogram (ten series a peer) starts with the peer's first answered test call:
    // at a thousand peers, empty histograms for all would be most of the scrape.
    const withSetup = new Set((await this.testCallSetup.get()).values.map((v) => String(v.labels.peer)));
    for (const peer of withSetup) if (!names.has(peer)) this.testCallSetup.remove({ peer });
    // Trunk figures come from the Asterisk layer as measured: every peer has its active calls (0 until
    // a poll says otherwise), the quality gauges appear with the first measurement; a removed peer's go.
    for (const gauge of [
      this.trunkRtt,
      this.trunkJitter,
      this.trunkLoss,
      this.trunkQualityTime,
      this.trunkActiveCalls,
    ]) {
      for (const v of (await gauge.get()).values) {
        if (!names.has(String(v.labels.peer))) gauge.remove(v.labels);
      }
    }
    const withCalls = new Set((await this.trunkActiveCalls.get()).values.map((v) => String(v.labels.peer)));
    for (const peer of names) if (!withCalls.has(peer)) this.trunkActiveCalls.set({ peer }, 0);
    // Gauges describe the rows as they are now.
    this.peerState.reset();
    this.peerLatency.reset();
    this.peerLastSeen.reset();
    this.peerApplyState.reset();
    for (const p of peers) {
      this.setPeerReachability(p.name, p.reachability, p.latencyMs);
      if (p.lastSeen !== null) this.peerLastSeen.set({ peer: p.name }, p.lastSeen / 1000);
      setStateSet(this.peerApplyState, p.name, APPLY_STATES, p.applyState, 'pending');
    }
  }

  /** A trunk's call-quality figures as last measured: a figure Asterisk did not report keeps its earlier value. */
  setTrunkQuality(s: TrunkQualitySample): void {
    if (s.rttMs !== null) this.trunkRtt.set({ peer: s.peer }, s.rttMs / 1000);
    for (const direction of QUALITY_DIRECTIONS) {
      const f = s[direction];
      if (f.jitterMs !== null) this.trunkJitter.set({ peer: s.peer, direction }, f.jitterMs / 1000);
      if (f.lossRatio !== null) this.trunkLoss.set({ peer: s.peer, direction }, f.lossRatio);
    }
    this.trunkQualityTime.set({ peer: s.peer }, s.at / 1000);
  }

  setTrunkActiveCalls(peer: string, calls: number): void {
    this.trunkActiveCalls.set({ peer }, calls);
  }

  /** One link's state: 1 on its state's series, 0 on every other, so each state is one series to alert on. */
  setLinkState(link: 'ami' | 'ari', state: AsteriskLinkState | 'disabled'): void {
    for (const s of [...ASTERISK_LINK_STATES, 'disabled'] as const) {
      this.linkState.set({ link, state: s }, s === state ? 1 : 0);
    }
    this.connectionUp.set({ link }, state === 'connected' ? 1 : 0);
  }
}
