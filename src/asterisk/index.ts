import type { Feature, ServiceContext } from '../core/feature';
import type { AsteriskPeerRows } from '../core/asterisk-peers';
import type {
  AsteriskConnectionStatus,
  AsteriskPort,
  ReconcileNowReport,
  TestCallResult,
} from '../core/asterisk-port';
import { errorMessage } from '../core/errors';
import type { UnfederatedNumbersSource } from '../core/unfederated-numbers';
import type { TrunkQualityStore } from '../core/trunk-quality';
import type { AsteriskNodeLease } from '../core/replicas';
import { AmiClient } from './ami-client';
import { CallQualityMonitor } from './call-quality';
import { AriClient } from './ari-client';
import type { AmiLink, AmiMessage, AriLink } from './asterisk-links';
import { FilesBackend, IAX_MODULE } from './files-backend';
import { ModuleReloader } from './module-reloader';
import { PeerMonitor } from './peer-monitor';
import { RealtimeBackend } from './realtime-backend';
import { type ReconcileReport, Reconciler } from './reconciler';
import type { StateBackend } from './state-backend';
import { TestCaller } from './test-caller';
import type { Job, JobHandle } from '../jobs/job';
import { runnerFor } from '../jobs/job-runner';
import { HeapCompaction } from '../jobs/heap-compaction';

export { validatePeer, type PeerInput, type ValidPeer, INVALID_VALUE } from './peer-validation';

/** What the Asterisk feature exposes besides the port (for the admin layer, the CLI and tests). */
export interface AsteriskFeature extends Feature {
  port: AsteriskPort;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Runs the reconciler now (coalesced with other requests) and returns its report. */
  reconcile(reason: string): Promise<ReconcileReport | null>;
  /** One monitor poll now. */
  pollMonitor(): Promise<void>;
  /** Peer status events the monitor has received so far, by source. */
  monitorEvents(): { ami: number; ari: number };
  /** Call quality and active calls per trunk (poll now, probe a peer now). */
  readonly quality: CallQualityMonitor;
  readonly reconciler: Reconciler;
}

export interface AsteriskFeatureOverrides {
  /** Replace the clients (e.g. a fault-injecting wrapper in tests). */
  ami?: AmiLink;
  ari?: AriLink;
}

const ariBase = (url: string): string => {
  const u = url.replace(/\/+$/, '');
  return u.endsWith('/ari') ? u : `${u}/ari`;
};

/**
 * The Asterisk layer: keeps Asterisk in line with the Peer rows (reconciler
 * over a files or realtime backend), monitors every trunk and runs test calls.
 * It starts and serves while Asterisk is down: the clients reconnect with
 * backoff and every reconnect triggers a reconcile.
 */
export function createAsteriskFeature(
  ctx: ServiceContext & {
    /** The numbers no partner may reach, from their owner (the federation policy, handed in by the composition). */
    unfederated: UnfederatedNumbersSource;
    /** The peers (what to render, and the columns this layer writes), handed in by the composition. */
    peers: AsteriskPeerRows;
    /** Call-quality samples (this layer writes them), handed in by the composition. */
    quality: TrunkQualityStore;
    /**
     * Replicas: the lease of this replica's Asterisk node. Only its holder reconciles the node,
     * samples its trunks' reachability and takes call-quality samples; the other replicas bound to
     * the node stand by.
     */
    nodeLease?: AsteriskNodeLease;
  },
  overrides: AsteriskFeatureOverrides = {},
): AsteriskFeature {
  const { config, db, clock, metrics } = ctx;
  const logger = ctx.logger.child({ component: 'asterisk' });
  const a = config.asterisk;
  const ami: AmiLink =
    overrides.ami ??
    new AmiClient({
      host: a.ami.host,
      port: a.ami.port,
      username: a.ami.user,
      secret: a.ami.password,
      logger,
      actionTimeoutMs: a.ami.actionTimeoutMs,
      reconnect: { initialMs: 250, maxMs: 5000 },
    });
  const ari: AriLink =
    overrides.ari ??
    new AriClient({
      url: ariBase(a.ari.url),
      username: a.ari.user,
      password: a.ari.password,
      app: a.ari.app,
      logger,
      reconnect: { initialMs: 250, maxMs: 5000 },
    });
  /**
   * The files backend's second AMI session, without events: peer lists with
   * descriptions for a verify that has no list taken behind its own reload
   * (see FilesBackend.listPeers); nothing is asked on it while a reload runs.
   */
  const probe: AmiLink | null =
    a.stateBackend === 'realtime'
      ? null
      : new AmiClient({
          host: a.ami.host,
          port: a.ami.port,
          username: a.ami.user,
          secret: a.ami.password,
          logger,
          component: 'ami-probe',
          events: false,
          // The main session logs what goes wrong with this same address and login.
          reportFailures: false,
          actionTimeoutMs: a.ami.actionTimeoutMs,
          reconnect: { initialMs: 250, maxMs: 5000 },
        });
  const reloader = new ModuleReloader(ami, metrics, logger, clock);
  const backend: StateBackend =
    a.stateBackend === 'realtime'
      ? new RealtimeBackend(a.realtimeDb, db, ami, clock, logger)
      : new FilesBackend(a.configDir, ami, reloader, logger, probe);
  /**
   * Asterisk offers no endpoint:IAX2 event source before its first IAX2 peer
   * exists, so on a fresh instance the ARI subscription (PeerStatusChange for
   * the monitor) can only succeed once a run has applied a peer: ask then
   * instead of waiting for the client's own backoff.
   */
  const subscribeAfterApply = (report: ReconcileReport): void => {
    if (report.applied.length === 0 || ari.subscribedToIax !== false || ari.state !== 'connected') return;
    void ari.ensureSubscribed?.().then(
      (ok) => logger.debug('ARI endpoint:IAX2 subscription after apply', { component: 'asterisk', ok }),
      (e: unknown) =>
        logger.debug('ARI endpoint:IAX2 subscription failed', {
          component: 'asterisk',
          error: errorMessage(e),
        }),
    );
  };
  // A large run's garbage back to the system at once (src/jobs/heap-compaction.ts).
  const compaction = new HeapCompaction();
  const reconciler = new Reconciler({
    config,
    rows: ctx.peers,
    clock,
    logger,
    metrics,
    ami,
    backend,
    unfederated: ctx.unfederated,
    nodeLease: ctx.nodeLease,
    onReport: (report) => {
      subscribeAfterApply(report);
      compaction.afterRun(report.changes.length, report.applied.length + report.failed.length);
    },
  });
  const monitor = new PeerMonitor({
    rows: ctx.peers,
    ami,
    clock,
    logger,
    metrics,
    pollMs: config.jobs.monitorPollMs,
    monitorable: backend.monitorable,
    notifier: ctx.notifier,
    hysteresis: { downAfter: config.notify.trunkDownAfterPolls, upAfter: config.notify.trunkUpAfterPolls },
    // Replicas sharing this node: only the lease holder samples reachability (its polls, events and pollSoon alike).
    sampling: ctx.nodeLease ? () => ctx.nodeLease?.held() === true : undefined,
  });
  const caller = new TestCaller({
    rows: ctx.peers,
    ari,
    clock,
    logger,
    metrics,
    app: a.ari.app,
    testExtension: a.testExtension,
    timeoutSec: 15,
  });

  const quality = new CallQualityMonitor({
    rows: ctx.peers,
    ami,
    store: ctx.quality,
    clock,
    logger,
    metrics,
    pollMs: config.jobs.trunkQualityPollMs,
    // Realtime peers are never qualified (reachability unknown), so no probe would be placed.
    probe: { ...a.qualityProbe, extension: a.testExtension },
  });

  /** Replicas sharing this node: a job that works on the node runs on the lease holder only. */
  const nodeLease = ctx.nodeLease;
  const onNode = (job: Job): Job =>
    nodeLease ? { ...job, run: () => (nodeLease.held() ? job.run() : Promise.resolve()) } : job;

  let lastUptime: number | null = null;
  let lastBootEstimate: number | null = null;
  const jobs: Job[] = [
    monitor.job,
    onNode(quality.pollJob),
    ...(quality.probeJob ? [onNode(quality.probeJob)] : []),
    {
      name: 'asterisk-reconcile',
      schedule: { cron: config.jobs.reconcileCron },
      // The reconciler coalesces this with whatever else asked for a run; the scheduled one reads back everything.
      run: () => reconciler.request('schedule', { full: true }),
    },
    {
      // Trunk secret epochs: re-apply when an overlap starts, at a rotation and when an overlap ends.
      name: 'secret-epochs',
      schedule: { gapMs: config.jobs.secretEpochPollMs },
      run: () => reconciler.followEpochs(),
    },
  ];
  let handles: JobHandle[] = [];
  let stopWatchingDrift: (() => void) | null = null;
  let stopFollowingLease: (() => void) | null = null;

  const onAmiConnected = () => {
    reconciler.sessionStarted();
    void reconciler.request('ami-connected', { immediate: true });
    void monitor.pollSoon();
  };
  const onAmiState = () => metrics.setLinkState('ami', ami.state);
  const onFullyBooted = (m: AmiMessage) => {
    const uptime = Number(m.uptime);
    if (!m.uptime || !Number.isFinite(uptime)) return;
    // Uptime counts whole seconds, so two quick boots both say 0: the boot moment moving on counts too.
    const bootEstimate = clock.now() - uptime * 1000;
    const restarted =
      lastUptime !== null &&
      (uptime < lastUptime || (lastBootEstimate !== null && bootEstimate - lastBootEstimate > 1500));
    lastUptime = uptime;
    lastBootEstimate = bootEstimate;
    if (restarted) {
      logger.info('Asterisk restarted, re-applying', { component: 'asterisk' });
      void reconciler.request('asterisk-restart', { immediate: true });
    }
  };
  const onReload = (m: AmiMessage) => {
    const module = m.module ?? '';
    // Whoever reloaded the dial plan (our own echo included), what was verified of it is stale. Only that:
    // the peers' list read right behind our own chan_iax2 reload still stands (dropping it on our own
    // pbx_config echo cost every new peer's verify a second look at the peers).
    if (module !== IAX_MODULE) backend.forgetDialplan?.();
    if (reloader.isOwn(module)) return;
    void reconciler.request(`foreign-reload:${module || 'all'}`);
  };
  const onAriState = () => metrics.setLinkState('ari', ari.state);
  const onAriPeerStatus = () => monitor.peerEvent();

  const listeners: [AmiLink | AriLink, string, (...args: never[]) => void][] = [
    [ami, 'connected', onAmiConnected],
    [ami, 'state', onAmiState],
    [ami, 'FullyBooted', onFullyBooted],
    [ami, 'Reload', onReload],
    [ari, 'state', onAriState],
    [ari, 'PeerStatusChange', onAriPeerStatus],
  ];

  const port: AsteriskPort = {
    async syncPeers(reason: string): Promise<void> {
      await reconciler.request(reason);
    },
    testCall(peerName: string): Promise<TestCallResult> {
      return caller.call(peerName);
    },
    async reconcileNow(
      reason: string,
      opts: { verify?: 'full' | 'changed' } = {},
    ): Promise<ReconcileNowReport> {
      const r = await reconciler.request(reason, { immediate: true, full: opts.verify !== 'changed' });
      if (!r) {
        return {
          result: 'not_run',
          changes: [],
          reloaded: [],
          verified: [],
          failed: [],
          problems: [],
          error:
            reconciler.standby ??
            reconciler.lastError ??
            'the reconcile did not run (the Asterisk layer is stopping)',
          startedAt: null,
          finishedAt: reconciler.lastRunAt,
          phasesMs: {},
        };
      }
      return {
        result: 'done',
        changes: r.changes,
        reloaded: r.reloaded,
        verified: r.applied,
        failed: r.failed,
        problems: r.problems,
        error: null,
        startedAt: r.startedAt,
        finishedAt: r.finishedAt,
        phasesMs: r.phasesMs,
      };
    },
    status(): AsteriskConnectionStatus {
      return {
        enabled: true,
        backend: a.stateBackend,
        ami: ami.state,
        ari: ari.state,
        amiDetail: ami.status?.detail ?? null,
        ariDetail: ari.status?.detail ?? null,
        // The monitor reads the trunks through AMI: without it the reachability shown is stale.
        monitoring: !backend.monitorable
          ? 'unavailable_realtime'
          : ami.state === 'connected'
            ? 'available'
            : 'unavailable_ami',
        lastReconcileAt: reconciler.lastRunAt,
        lastReconcileError: reconciler.lastError,
      };
    },
  };

  return {
    name: 'asterisk',
    port,
    reconciler,
    reconcile: (reason) => reconciler.request(reason, { immediate: true }),
    pollMonitor: () => monitor.pollSoon(),
    monitorEvents: () => ({ ...monitor.eventsSeen }),
    quality,
    async start() {
      for (const [link, event, listener] of listeners) link.on(event, listener);
      ami.start();
      probe?.start();
      ari.start();
      onAmiState();
      onAriState();
      monitor.start();
      quality.start();
      const runner = runnerFor(ctx);
      handles = jobs.map((j) => runner.add(j));
      // Taken at start or over from a replica that died: the node may hold anything, so a full run at once.
      stopFollowingLease =
        nodeLease?.onGained(() => {
          logger.info('Asterisk node lease taken: this replica applies to the node', {
            component: 'asterisk',
            node: nodeLease.node,
          });
          reconciler.sessionStarted();
          void reconciler.request('node-lease-taken', { immediate: true, full: true });
        }) ?? null;
      // A hand edit of a generated file is repaired at once, not at the next scheduled reconcile.
      stopWatchingDrift =
        backend.watchDrift?.((file) => {
          if (config.asterisk.watchGeneratedFiles)
            void reconciler.request(`drift:${file}`, { immediate: true });
        }) ?? null;
      logger.info('Asterisk layer started', { component: 'asterisk', backend: a.stateBackend });
    },
    async stop() {
      // Off the runner first without waiting: a scheduled reconcile in flight ends when the reconciler stops.
      quality.stop();
      const removed = Promise.all(handles.map((h) => h.remove()));
      handles = [];
      stopWatchingDrift?.();
      stopWatchingDrift = null;
      stopFollowingLease?.();
      stopFollowingLease = null;
      await reconciler.stop();
      compaction.stop();
      await monitor.stop();
      await removed;
      for (const [link, event, listener] of listeners) link.off(event, listener);
      for (const [what, close] of [
        ['ami', () => ami.stop()],
        ['ami-probe', async () => probe?.stop()],
        ['ari', () => ari.stop()],
        ['backend', () => backend.close()],
      ] as const) {
        try {
          await close();
        } catch (e) {
          logger.warn('close failed', { component: 'asterisk', what, error: errorMessage(e) });
        }
      }
    },
  };
}
