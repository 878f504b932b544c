import type { Config } from '../config/schema';
import type { Clock } from '../core/clock';
import { epochPhasesKey, secretSwitchPhasesKey } from '../core/trunk-secret-epochs';
import { AppError, errorMessage } from '../core/errors';
import type { Metrics } from '../core/metrics';
import type { Logger } from '../logging/logger';
import type { AmiLink } from './asterisk-links';
import type { UnfederatedNumbersSource } from '../core/unfederated-numbers';
import { type DesiredState, type PeerObjects, buildDesiredState, renderSettingsFrom } from './desired-state';
import type { ApplyPatch, AsteriskPeerRows, PeerPatch, PeerRunRow } from '../core/asterisk-peers';
import { PeerPatchBatch } from './peer-patch-batch';
import type { ApplyReport, StateBackend, VerifyReport } from './state-backend';
import type { AsteriskNodeLease } from '../core/replicas';
import { SingleFlight } from '../jobs/single-flight';

export interface ReconcileReport {
  reasons: string[];
  changes: ApplyReport['changes'];
  reloaded: string[];
  applied: string[];
  failed: { name: string; error: string }[];
  problems: string[];
  startedAt: number;
  finishedAt: number;
  /**
   * Milliseconds spent per phase (read, build, the backend's own steps such as render, write and reload,
   * the rest of apply, verify, forced, record): where a slow run spent its time. They add up to the run.
   */
  phasesMs: Record<string, number>;
}

/** Requests not yet taken by a run: they share the next one. */
interface Batch {
  reasons: Set<string>;
  waiters: ((r: ReconcileReport | null) => void)[];
  /** When the first of them came (a burst is held back at most MAX_COALESCE_MS from it). */
  firstAt: number;
  /** The debounce timer; null once the batch is handed to the single flight (or none was set). */
  timer: NodeJS.Timeout | null;
  /** Handed to the single flight: it runs as soon as no run is in flight. */
  due: boolean;
  full: boolean;
  /**
   * A lone request that came while a leading run was in flight (it runs
   * FOLLOW_UP_SETTLE_MS after that run ends, or as it ends when it came
   * BACK_TO_BACK_SETTLE_MS before, whichever is first), or back to back with the
   * previous request when nothing ran or waited (it runs
   * BACK_TO_BACK_SETTLE_MS after it came), unless another request joins it
   * first (then it is a burst and waits for the burst to pause).
   */
  followUp: boolean;
}

/**
 * Longest a burst of requests may hold back a run, ms, counted from the first
 * request after the burst's leading one (which ran at once): a steady stream
 * cannot starve the runs, and a burst of a second and a half costs two.
 */
const MAX_COALESCE_MS = 1500;

/**
 * Requests closer together than this are a burst even when the run of the
 * first has already ended: what a program sends back to back (a bulk accept,
 * an adoption, a script) comes a few ms apart, while the next change an admin
 * or a partner makes costs an HTTP round trip and a commit at least.
 */
const BURST_GAP_MS = 25;

/**
 * How long a lone request that came during a run waits after that run ends
 * before it runs (a follow-up): long enough for the next request of a burst
 * paced at BURST_GAP_MS or faster to join it and turn it into a burst, far
 * shorter than a debounce.
 */
const FOLLOW_UP_SETTLE_MS = BURST_GAP_MS;

/**
 * How long a lone request that came back to back after a run has ended
 * (nothing running, nothing waiting) waits before it runs as a follow-up:
 * the next request of a burst paced at or a little past BURST_GAP_MS (the
 * 50-peer test's rows come 17-25 ms apart, more on a loaded host) must still
 * find it waiting and make the two a burst; a lone one (a teardown right
 * after the accept's run) pays this instead of a whole debounce. A follow-up
 * that came during a run and has waited this long when the run ends runs at
 * once: the next request of a burst would have joined it by then (an accept
 * that came early in a slow teardown run).
 */
const BACK_TO_BACK_SETTLE_MS = 2 * BURST_GAP_MS;

/**
 * Desired state (Peer rows) against actual state (Asterisk). One run reads
 * every peer, lets the backend write what differs (and reload only then),
 * verifies what Asterisk shows, and records apply states on the peers.
 * Runs go through a single flight (src/jobs): never two at once.
 *
 * Leading edge: a request that finds no run in flight and none waiting runs
 * at once, however recently the last one came (a teardown followed by the
 * next accept pays no debounce). Only what arrives while a run is in flight
 * or a batch waits (or back to back, within BURST_GAP_MS) is coalesced: a
 * request within asterisk.reloadDebounceMs of the previous one is then part
 * of a burst and waits for the burst to pause (the debounce, capped by
 * MAX_COALESCE_MS), so that a burst costs its leading run and one more, not
 * a run per request. A request that comes more than a debounce after the
 * previous one, while a run is in flight, runs right after it.
 *
 * Follow-up: a lone request (not back to back) that finds a leading run in
 * flight and nothing waiting is not held for a whole debounce: it runs
 * FOLLOW_UP_SETTLE_MS after that run ends, or as it ends when the request
 * came BACK_TO_BACK_SETTLE_MS or more before (an accept right after the
 * teardown of the previous peer on the same node, whose run has not ended
 * yet). So is a lone request back to back with the previous one when no run
 * is in flight and nothing waits (a teardown right after the accept's run
 * ended): it runs BACK_TO_BACK_SETTLE_MS after it came. A second request
 * before a follow-up runs makes the two a burst (the debounce as above); so
 * does a request during the follow-up run itself, so a burst costs the
 * leading run, at most one follow-up and one more run.
 */
/**
 * What changes a trunk with time alone: trunk secret epoch phases and the
 * switch of an upgraded v1 peering (src/core/trunk-secret-epochs.ts). '' when
 * nothing does.
 */
function timePhasesKey(
  rows: Pick<
    PeerRunRow,
    | 'name'
    | 'secretEpochSeconds'
    | 'secretEpochOffset'
    | 'secretShiftAt'
    | 'previousSecret'
    | 'secretSwitchAt'
  >[],
  now: number,
  overlapMs: number,
): string {
  return [epochPhasesKey(rows, now, overlapMs), secretSwitchPhasesKey(rows, now, overlapMs)]
    .filter((k) => k !== '')
    .join('|');
}

export class Reconciler {
  private batch: Batch | null = null;
  /** When the last request came, to tell a lone request from one of a burst. */
  private lastRequestAt = Number.NEGATIVE_INFINITY;
  /** Whether the run in flight is a follow-up (see FOLLOW_UP_SETTLE_MS). */
  private followUpInFlight = false;
  /**
   * A batch's run is in flight: set when runBatch takes it, cleared before its waiters are answered (the single
   * flight's own busy flag clears a few microtasks later, after a waiter's continuation may have asked again).
   */
  private running = false;
  private readonly runs = new SingleFlight(() => this.runBatch(), {
    rerunWhen: () => !this.stopped && this.batch?.due === true,
  });
  /** What each verified peer was rendered as in the last run (see sameRendering). */
  private readonly appliedObjects = new Map<string, PeerObjects>();
  private lastFailureSignature = '';
  private stopped = false;
  private bootChecked = false;
  lastReport: ReconcileReport | null = null;
  lastRunAt: number | null = null;
  /**
   * The trunk secret epoch phases (epochPhasesKey) the last completed run
   * applied; the epoch job runs again when the clock has moved past them.
   */
  appliedEpochPhases: string | null = null;
  lastError: string | null = null;
  /**
   * Why the last request did not run on this replica: another replica bound
   * to the same Asterisk node holds its lease (null while this one applies).
   */
  standby: string | null = null;

  constructor(
    private readonly deps: {
      config: Config;
      /** The peers, from the composition (src/store/peer-rows.ts). */
      rows: AsteriskPeerRows;
      clock: Clock;
      logger: Logger;
      metrics: Metrics;
      ami: AmiLink;
      backend: StateBackend;
      /** The numbers partners must never reach, from their owner (the federation policy). */
      unfederated: UnfederatedNumbersSource;
      /** Called after every completed run (never throws into the run). */
      onReport?: (report: ReconcileReport) => void;
      /**
       * Replicas sharing one Asterisk node: runs happen only while this replica holds the node's
       * lease; on another replica's node they are skipped (no apply, no apply state written).
       */
      nodeLease?: AsteriskNodeLease;
    },
  ) {}

  /**
   * Runs when the injected clock has crossed a trunk secret epoch step since
   * the last completed run (an overlap starts, a rotation, an overlap ends):
   * what the epoch job calls. Resolves with whether it asked for a run.
   */
  async followEpochs(): Promise<boolean> {
    const overlapMs = this.deps.config.federation.secretOverlapSeconds * 1000;
    const rows = await this.deps.rows.readAll();
    const key = timePhasesKey(rows, this.deps.clock.now(), overlapMs);
    // No peer on epochs or switching from a v1 secret: nothing changes with time (the other triggers cover everything else).
    if (key === '' || key === this.appliedEpochPhases) return false;
    await this.request('secret-epoch', { immediate: true });
    return true;
  }

  /**
   * Asks for a run. Resolves with that run's report (null when it could not
   * run, e.g. Asterisk is down: lastError says why). Never rejects. With
   * full, the run reads back everything Asterisk holds, not only what may
   * have changed (see StateBackend.verify): the scheduled run and an admin's
   * "reconcile now" ask for it, because CLI edits of the dial plan raise no event.
   * With immediate, the request never waits for a debounce.
   */
  request(
    reason: string,
    opts: { immediate?: boolean; full?: boolean } = {},
  ): Promise<ReconcileReport | null> {
    if (this.stopped) return Promise.resolve(null);
    return new Promise((resolve) => {
      const now = performance.now();
      const debounce = this.deps.config.asterisk.reloadDebounceMs;
      const sincePrevious = now - this.lastRequestAt;
      // Coalesce only what comes while a run is in flight or a batch waits (or back to back).
      const backToBack = sincePrevious < BURST_GAP_MS;
      const busy = this.running || this.batch !== null || backToBack;
      const inBurst = busy && sincePrevious < debounce;
      // Alone behind a leading run, or back to back with nothing running: a follow-up, not a burst (yet).
      const followUp =
        inBurst &&
        opts.immediate !== true &&
        this.batch === null &&
        (this.running ? !backToBack && !this.followUpInFlight : backToBack);
      this.lastRequestAt = now;
      const b = (this.batch ??= {
        reasons: new Set(),
        waiters: [],
        firstAt: now,
        timer: null,
        due: false,
        full: false,
        followUp,
      });
      // A second request before a follow-up ran: the two are a burst.
      if (!followUp) b.followUp = false;
      b.reasons.add(reason);
      b.waiters.push(resolve);
      b.full ||= opts.full === true;
      if (b.due) return; // already handed over: it runs once the run in flight ends
      if (b.timer) clearTimeout(b.timer);
      b.timer = null;
      const delay =
        opts.immediate === true || !inBurst
          ? 0
          : Math.max(0, Math.min(debounce, b.firstAt + MAX_COALESCE_MS - now));
      this.deps.logger.debug('reconcile requested', {
        component: 'asterisk',
        reason,
        delayMs: !b.followUp
          ? delay
          : this.running
            ? `${FOLLOW_UP_SETTLE_MS} after the run in flight (at most ${BACK_TO_BACK_SETTLE_MS} after the request)`
            : BACK_TO_BACK_SETTLE_MS,
      });
      // A follow-up behind a run is timed when that run ends (see runBatch); with nothing running, from now.
      if (b.followUp && !this.running) b.timer = setTimeout(() => this.handOver(b), BACK_TO_BACK_SETTLE_MS);
      if (b.followUp) return;
      if (delay === 0) this.handOver(b);
      else b.timer = setTimeout(() => this.handOver(b), delay);
    });
  }

  /** The batch is due: it runs now, or right after the run in flight. */
  private handOver(b: Batch): void {
    b.timer = null;
    if (this.batch !== b || b.due) return;
    b.due = true;
    // Resolves the batch's waiters itself; the single flight's promise only says when it ended.
    this.runs.trigger().catch(() => undefined);
  }

  /** One run for the batch that is due (taken now: requests from here on share the next run). */
  private async runBatch(): Promise<void> {
    const b = this.batch;
    if (!b?.due) return;
    this.batch = null;
    this.followUpInFlight = b.followUp;
    this.running = true;
    let report: ReconcileReport | null = null;
    try {
      report = await this.runOnce([...b.reasons], b.full);
    } finally {
      this.running = false;
      this.followUpInFlight = false;
      for (const w of b.waiters) w(report);
      this.settleFollowUp();
    }
  }

  /**
   * A follow-up that came during the run that just ended runs once it settled: FOLLOW_UP_SETTLE_MS from now,
   * or BACK_TO_BACK_SETTLE_MS from its request when that is sooner (at once when it has passed).
   */
  private settleFollowUp(): void {
    const next = this.batch;
    if (this.stopped || !next?.followUp || next.due || next.timer) return;
    const wait = Math.min(FOLLOW_UP_SETTLE_MS, next.firstAt + BACK_TO_BACK_SETTLE_MS - performance.now());
    if (wait <= 0) this.handOver(next);
    else next.timer = setTimeout(() => this.handOver(next), wait);
  }

  /**
   * A new AMI session: Asterisk may still be booting, and module reloads
   * asked for before it is fully booted are only queued, so the next run
   * first waits for the boot to finish.
   */
  sessionStarted(): void {
    this.bootChecked = false;
    this.deps.backend.forgetVerified?.();
  }

  /** Waits for the current run and any queued one (tests, shutdown). */
  async idle(): Promise<void> {
    for (;;) {
      await this.runs.idle();
      if (!this.batch) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const pending = this.batch;
    this.batch = null;
    if (pending?.timer) clearTimeout(pending.timer);
    pending?.waiters.forEach((w) => w(null));
    await this.runs.idle();
  }

  private async runOnce(reasons: string[], full: boolean): Promise<ReconcileReport | null> {
    const { ami, backend, clock, logger, metrics, config, nodeLease } = this.deps;
    if (nodeLease && !nodeLease.held()) {
      // The holder applies to this node; its apply state is the holder's to write.
      this.standby = `this replica stands by for Asterisk node ${nodeLease.node}: ${nodeLease.holder() ?? 'another replica'} holds its lease and applies to it`;
      logger.debug('reconcile skipped: not the node lease holder', { component: 'asterisk', reasons });
      return null;
    }
    this.standby = null;
    const startedAt = clock.now();
    logger.debug('reconcile run starts', { component: 'asterisk', reasons });
    try {
      if (ami.state !== 'connected') {
        throw new AppError(
          'ASTERISK_NOT_CONNECTED',
          'Asterisk is not connected (AMI); peers wait as they are',
        );
      }
      if (!this.bootChecked) {
        await ami.command('core waitfullybooted', { timeoutMs: 120_000 });
        this.bootChecked = true;
      }
      const phases = new PhaseTimer();
      const peers = await this.deps.rows.readAll();
      const unfederated = await this.deps.unfederated.unfederatedSet();
      phases.lap('read');
      const at = { now: clock.now(), overlapMs: config.federation.secretOverlapSeconds * 1000 };
      const desired = buildDesiredState(peers, renderSettingsFrom(config, unfederated), at);
      const epochPhases = timePhasesKey(peers, at.now, at.overlapMs);
      phases.lap('build');
      const applied = await backend.apply(desired, { force: false });
      phases.lap('apply', applied.phasesMs);
      let verify = await backend.verify(desired, { full });
      phases.lap('verify');
      const signature = failureSignature(verify);
      if (signature !== '' && signature !== this.lastFailureSignature) {
        // Asterisk may have missed a change (a reload that raced with a restart, a module
        // reloaded by hand): make it re-read once. A failure that persists does not reload again.
        logger.info('verification failed, forcing a re-read', { component: 'asterisk', problems: signature });
        const forced = await backend.apply(desired, { force: true });
        applied.changes.push(...forced.changes);
        applied.reloaded.push(...forced.reloaded);
        if (forced.durable) applied.durable = bothDurable(applied.durable, forced.durable);
        verify = await backend.verify(desired);
        phases.lap('forced');
      }
      this.lastFailureSignature = failureSignature(verify);
      const report = await this.record(peers, desired, verify, applied, reasons, startedAt);
      phases.lap('record');
      // The apply states are recorded as soon as Asterisk holds the state (an admin sees the trunk live);
      // the run ends once the written files survive a power loss too. Until then a power loss may bring
      // the old files back, whole, which a restart's first run repairs like a crash before the write.
      await applied.durable;
      phases.lap('durable');
      report.phasesMs = phases.laps;
      for (const c of report.changes) metrics.driftRepaired.inc({ action: c.action });
      metrics.reconcileRuns.inc({
        result: report.problems.length > 0 || report.failed.length > 0 ? 'error' : 'ok',
      });
      this.lastReport = report;
      this.lastRunAt = report.finishedAt;
      this.appliedEpochPhases = epochPhases;
      this.lastError = report.problems.length > 0 ? report.problems.join('; ') : null;
      try {
        this.deps.onReport?.(report);
      } catch (e) {
        logger.warn('reconcile report listener failed', { component: 'asterisk', error: errorMessage(e) });
      }
      logger.debug('reconcile run done', { component: 'asterisk', reasons, phasesMs: phases.laps });
      if (report.changes.length > 0 || report.failed.length > 0 || report.problems.length > 0) {
        logger.info('reconciled', {
          component: 'asterisk',
          reasons,
          changes: report.changes.length,
          reloaded: report.reloaded,
          failed: report.failed.map((f) => f.name),
          problems: report.problems,
          phasesMs: phases.laps,
        });
      }
      return report;
    } catch (e) {
      metrics.reconcileRuns.inc({ result: 'error' });
      this.lastRunAt = clock.now();
      this.lastError = errorMessage(e);
      logger.warn('reconcile failed', { component: 'asterisk', reasons, error: this.lastError });
      await this.markWaiting(this.lastError).catch(() => undefined);
      return null;
    }
  }

  /** Peers not applied yet say why they wait (Asterisk down, schema missing...). */
  private async markWaiting(error: string): Promise<void> {
    const rows = await this.deps.rows.readAll();
    const ids = rows.filter((p) => p.applyState !== 'applied' && p.applyError !== error).map((p) => p.id);
    await this.deps.rows.patch(ids, { applyError: error });
  }

  private async record(
    peers: PeerRunRow[],
    desired: DesiredState,
    verify: VerifyReport,
    applied: ApplyReport,
    reasons: string[],
    startedAt: number,
  ): Promise<ReconcileReport> {
    const now = this.deps.clock.now();
    const byName = new Map(peers.map((p) => [p.name, p]));
    const report: ReconcileReport = {
      reasons,
      changes: applied.changes,
      reloaded: applied.reloaded,
      applied: [],
      failed: [],
      problems: verify.problems,
      startedAt,
      finishedAt: now,
      phasesMs: {},
    };
    // Only rows whose apply state changes are written.
    const updates = new PeerPatchBatch();
    // The two patches nearly every verified peer gets, made once (1,000 peers, one run: less garbage).
    const appliedFresh = { applyState: 'applied', applyError: null, appliedAt: now } as const;
    const appliedKept = { applyState: 'applied', applyError: null } as const;
    const save = (row: PeerRunRow, patch: ApplyPatch, written?: PeerPatch) => {
      const changed =
        row.applyState !== patch.applyState ||
        row.applyError !== patch.applyError ||
        (patch.appliedAt !== undefined && row.appliedAt !== patch.appliedAt);
      if (changed) updates.add(row.id, written ?? patch);
    };
    for (const obj of desired.peers) {
      const row = byName.get(obj.peer.name);
      if (!row) continue;
      const error = verify.peerErrors.get(obj.peer.name);
      if (error) {
        report.failed.push({ name: row.name, error });
        save(row, { applyState: 'failed', applyError: error });
        continue;
      }
      report.applied.push(row.name);
      const known = this.appliedObjects.get(row.name);
      const fresh =
        row.applyState !== 'applied' ||
        row.appliedAt === null ||
        (known !== undefined && !sameRendering(known, obj));
      this.appliedObjects.set(row.name, obj);
      const patch = fresh ? appliedFresh : appliedKept;
      save(row, patch, patch);
    }
    for (const r of desired.refused) {
      const row = byName.get(r.name);
      report.failed.push({ name: r.name, error: r.error });
      if (row) save(row, { applyState: 'failed', applyError: r.error });
    }
    // Forget removed peers (a peer added again under the same name starts over).
    if (this.appliedObjects.size > desired.peers.length) {
      const wanted = new Set(desired.peers.map((o) => o.peer.name));
      for (const name of this.appliedObjects.keys()) if (!wanted.has(name)) this.appliedObjects.delete(name);
    }
    await updates.flush(this.deps.rows);
    report.finishedAt = this.deps.clock.now();
    return report;
  }
}

/**
 * Milliseconds per phase of a run, for the log line and the report (where a
 * slow run spent its time). The phases add up to the run: a lap given the
 * steps its callee timed (the files backend's render, write, reload) reports
 * them under their own names and only the rest under its own.
 */
class PhaseTimer {
  readonly laps: Record<string, number> = {};
  private last = performance.now();

  lap(name: string, steps?: Record<string, number>): void {
    const now = performance.now();
    let rest = now - this.last;
    for (const [step, ms] of Object.entries(steps ?? {})) {
      this.laps[step] = ms;
      rest -= ms;
    }
    this.laps[name] = Math.max(0, Math.round(rest * 10) / 10);
    this.last = now;
  }
}

/**
 * Whether a peer renders as it did in the last run (else its config was
 * applied anew and applied_at moves): the same option lines and the same dial
 * plan steps. Compared value by value against the last run's objects, which
 * the backend holds anyway: no digest to work out for every peer while
 * chan_iax2 reloads, and a build hands unchanged steps on as the same array.
 */
function sameRendering(a: PeerObjects, b: PeerObjects): boolean {
  const ao = a.friend.options;
  const bo = b.friend.options;
  if (a.friend.name !== b.friend.name || ao.length !== bo.length) return false;
  for (let i = 0; i < ao.length; i++) if (ao[i][0] !== bo[i][0] || ao[i][1] !== bo[i][1]) return false;
  if (a.steps === b.steps) return true;
  if (a.steps.length !== b.steps.length) return false;
  return a.steps.every((st, i) => {
    const o = b.steps[i];
    return (
      st.context === o.context &&
      st.exten === o.exten &&
      st.priority === o.priority &&
      st.app === o.app &&
      st.appData === o.appData
    );
  });
}

function failureSignature(v: VerifyReport): string {
  return [...[...v.peerErrors.entries()].map(([k, e]) => `${k}: ${e}`), ...v.problems].sort().join('; ');
}

/** Both applies' durable waits as one (awaited at the end of the run; never an unhandled rejection before). */
function bothDurable(a: Promise<void> | undefined, b: Promise<void>): Promise<void> {
  const both = Promise.all([a, b]).then(() => undefined);
  both.catch(() => undefined);
  return both;
}
