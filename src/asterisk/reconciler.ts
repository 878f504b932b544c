import type { Config } from '../config/schema';
import type { Clock } from '../core/clock';
import { AppError, errorMessage } from '../core/errors';
import type { Metrics } from '../core/metrics';
import type { Logger } from '../logging/logger';
import type { AmiLink } from './asterisk-links';
import type { UnfederatedNumbersSource } from '../core/unfederated-numbers';
import { type DesiredState, type PeerObjects, buildDesiredState, renderSettingsFrom } from './desired-state';
import type { ApplyPatch, AsteriskPeerRows, PeerPatch, PeerRunRow } from '../core/asterisk-peers';
import { PeerPatchBatch } from './peer-patch-batch';
import type { ApplyReport, StateBackend, VerifyReport } from './state-backend';

export interface ReconcileReport {
  reasons: string[];
  changes: ApplyReport['changes'];
  reloaded: string[];
  applied: string[];
  failed: { name: string; error: string }[];
  problems: string[];
  startedAt: number;
  finishedAt: number;
  /** Milliseconds spent per phase (read, apply, verify, forced, record): where a slow run spent its time. */
  phasesMs: Record<string, number>;
}

interface Batch {
  reasons: Set<string>;
  waiters: { resolve: (r: ReconcileReport | null) => void }[];
  firstAt: number;
  timer: NodeJS.Timeout | null;
  immediate: boolean;
  full: boolean;
}

/** Longest a burst of requests may hold back a run, ms. */
const MAX_COALESCE_MS = 1000;

/**
 * Desired state (Peer rows) against actual state (Asterisk). One run reads
 * every peer, lets the backend write what differs (and reload only then),
 * verifies what Asterisk shows, and records apply states on the peers.
 * Requests are coalesced: a burst of changes becomes one run (a trailing
 * debounce, capped so a steady stream cannot starve it), and runs never
 * overlap.
 */
export class Reconciler {
  private batch: Batch | null = null;
  private running: Promise<void> | null = null;
  private readonly appliedHash = new Map<string, string>();
  private lastFailureSignature = '';
  private stopped = false;
  private bootChecked = false;
  lastReport: ReconcileReport | null = null;
  lastRunAt: number | null = null;
  lastError: string | null = null;

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
    },
  ) {}

  /**
   * Asks for a run. Resolves with that run's report (null when it could not
   * run, e.g. Asterisk is down: lastError says why). Never rejects. With
   * full, the run reads back everything Asterisk holds, not only what may
   * have changed (see StateBackend.verify): the scheduled run and an admin's
   * "reconcile now" ask for it, because CLI edits of the dial plan raise no event.
   */
  request(
    reason: string,
    opts: { immediate?: boolean; full?: boolean } = {},
  ): Promise<ReconcileReport | null> {
    if (this.stopped) return Promise.resolve(null);
    return new Promise((resolve) => {
      const now = performance.now();
      const b = (this.batch ??= {
        reasons: new Set(),
        waiters: [],
        firstAt: now,
        timer: null,
        immediate: false,
        full: false,
      });
      b.reasons.add(reason);
      b.waiters.push({ resolve });
      b.immediate ||= opts.immediate === true;
      b.full ||= opts.full === true;
      if (b.timer) clearTimeout(b.timer);
      const debounce = this.deps.config.asterisk.reloadDebounceMs;
      const delay = b.immediate ? 0 : Math.max(0, Math.min(debounce, b.firstAt + MAX_COALESCE_MS - now));
      b.timer = setTimeout(() => this.fire(), delay);
    });
  }

  private fire(): void {
    const b = this.batch;
    if (!b) return;
    b.timer = null;
    // A run is in progress: this batch starts when it ends (see the finally below).
    if (this.running) return;
    this.batch = null;
    this.running = this.runOnce([...b.reasons], b.full)
      .then(
        (report) => b.waiters.forEach((w) => w.resolve(report)),
        () => b.waiters.forEach((w) => w.resolve(null)),
      )
      .finally(() => {
        this.running = null;
        const next = this.batch;
        if (next && !next.timer) this.fire();
      });
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
    while (this.running || this.batch) {
      if (this.running) await this.running;
      else await new Promise((r) => setTimeout(r, 10));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.batch?.timer) clearTimeout(this.batch.timer);
    const pending = this.batch;
    this.batch = null;
    pending?.waiters.forEach((w) => w.resolve(null));
    await this.running;
  }

  private async runOnce(reasons: string[], full: boolean): Promise<ReconcileReport | null> {
    const { ami, backend, clock, logger, metrics, config } = this.deps;
    const startedAt = clock.now();
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
      const desired = buildDesiredState(peers, renderSettingsFrom(config, unfederated));
      phases.lap('read');
      // The digests record() compares are worked out while Asterisk reloads, if it does.
      let digests: Map<string, string> | null = null;
      const applied = await backend.apply(desired, {
        force: false,
        whileReloading: () => (digests = digestsOf(desired)),
      });
      phases.lap('apply');
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
        verify = await backend.verify(desired);
        phases.lap('forced');
      }
      this.lastFailureSignature = failureSignature(verify);
      const report = await this.record(peers, desired, verify, applied, reasons, startedAt, digests);
      phases.lap('record');
      report.phasesMs = phases.laps;
      for (const c of report.changes) metrics.driftRepaired.inc({ action: c.action });
      metrics.reconcileRuns.inc({
        result: report.problems.length > 0 || report.failed.length > 0 ? 'error' : 'ok',
      });
      this.lastReport = report;
      this.lastRunAt = report.finishedAt;
      this.lastError = report.problems.length > 0 ? report.problems.join('; ') : null;
      try {
        this.deps.onReport?.(report);
      } catch (e) {
        logger.warn('reconcile report listener failed', { component: 'asterisk', error: errorMessage(e) });
      }
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
    digests: Map<string, string> | null,
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
      const hash = digests?.get(obj.peer.name) ?? hashOf(obj);
      const known = this.appliedHash.get(row.name);
      const fresh =
        row.applyState !== 'applied' || row.appliedAt === null || (known !== undefined && known !== hash);
      this.appliedHash.set(row.name, hash);
      const patch = fresh ? appliedFresh : appliedKept;
      save(row, patch, patch);
    }
    for (const r of desired.refused) {
      const row = byName.get(r.name);
      report.failed.push({ name: r.name, error: r.error });
      if (row) save(row, { applyState: 'failed', applyError: r.error });
    }
    // Forget removed peers (a peer added again under the same name starts over).
    if (this.appliedHash.size > desired.peers.length) {
      const wanted = new Set(desired.peers.map((o) => o.peer.name));
      for (const name of this.appliedHash.keys()) if (!wanted.has(name)) this.appliedHash.delete(name);
    }
    await updates.flush(this.deps.rows);
    report.finishedAt = this.deps.clock.now();
    return report;
  }
}

/** Milliseconds per phase of a run, for the log line (where a slow run spent its time). */
class PhaseTimer {
  readonly laps: Record<string, number> = {};
  private last = performance.now();

  lap(name: string): void {
    const now = performance.now();
    this.laps[name] = Math.round((now - this.last) * 10) / 10;
    this.last = now;
  }
}

/** What a peer is rendered as; a change means its config was applied anew (applied_at moves). */
function digestsOf(state: DesiredState): Map<string, string> {
  return new Map(state.peers.map((obj) => [obj.peer.name, hashOf(obj)]));
}

/**
 * A digest of everything rendered for the peer, kept per peer to compare with
 * the next run's (it never leaves the process). Two 32-bit FNV-1a lanes fed
 * straight from the values: no text is built, which with 1,000 peers would be
 * some 60,000 short-lived strings per run, and this runs while chan_iax2
 * reloads, where whatever the process does slows the reload down.
 */
function hashOf(obj: PeerObjects): string {
  const d = new FieldDigest();
  for (const [k, v] of obj.friend.options) d.add(k).add(v);
  for (const st of obj.steps)
    d.add(st.context).add(st.exten).add(String(st.priority)).add(st.app).add(st.appData);
  return d.value();
}

class FieldDigest {
  private a = 0x811c9dc5;
  private b = 0x01000193;

  /** Adds one field; a separator keeps ("ab", "c") and ("a", "bc") apart. */
  add(text: string): this {
    let a = this.a;
    let b = this.b;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
      b ^= b >>> 15;
    }
    // The separator is outside ASCII, which no validated value leaves.
    this.a = Math.imul(a ^ 0x100, 0x01000193);
    this.b = Math.imul(b ^ 0x100, 0x5bd1e995);
    return this;
  }

  value(): string {
    return `${(this.a >>> 0).toString(36)}.${(this.b >>> 0).toString(36)}`;
  }
}

function failureSignature(v: VerifyReport): string {
  return [...[...v.peerErrors.entries()].map(([k, e]) => `${k}: ${e}`), ...v.problems].sort().join('; ');
}
