import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ASTERISK_LINK_STATES, type AsteriskLinkState } from './asterisk-port';

/**
 * Prometheus instruments, one registry per App (so tests can run several
 * instances in one process). Layers receive the Metrics object and update it;
 * GET /metrics renders the registry.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly peerReachable = new Gauge({
    name: 'uuru_fed_peer_reachable',
    help: 'Peer reachability: 1 reachable, 0.5 lagged, 0 unreachable, -1 unknown or unmonitored',
    labelNames: ['peer'],
    registers: [this.registry],
  });
  readonly peerLatency = new Gauge({
    name: 'uuru_fed_peer_latency_ms',
    help: 'Last measured IAX2 qualify latency per peer, ms',
    labelNames: ['peer'],
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
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'uuru_fed_process_' });
  }

  /** One link's state: 1 on its state's series, 0 on every other, so each state is one series to alert on. */
  setLinkState(link: 'ami' | 'ari', state: AsteriskLinkState | 'disabled'): void {
    for (const s of [...ASTERISK_LINK_STATES, 'disabled'] as const) {
      this.linkState.set({ link, state: s }, s === state ? 1 : 0);
    }
    this.connectionUp.set({ link }, state === 'connected' ? 1 : 0);
  }
}
