/**
 * The one interface between the protocol layer and the Asterisk layer.
 * The database is the source of truth: the protocol writes peers there and
 * then asks the Asterisk side to catch up. The Asterisk side reads peers from
 * the DB itself, applies and verifies them, and records apply_state.
 */
export interface TestCallResult {
  answered: boolean;
  setupMs: number | null;
  error: string | null;
}

export interface AsteriskConnectionStatus {
  enabled: boolean;
  backend: 'files' | 'realtime';
  ami: 'connected' | 'connecting' | 'disconnected' | 'disabled';
  ari: 'connected' | 'connecting' | 'disconnected' | 'disabled';
  /** Realtime peers are never qualified: say so wherever status is shown. */
  monitoring: 'available' | 'unavailable_realtime' | 'disabled';
  lastReconcileAt: number | null;
  lastReconcileError: string | null;
}

/** What one reconcile run did, for the admin asking for it. Times are epoch ms. */
export interface ReconcileNowReport {
  /**
   * done: it ran (failed and problems say what did not verify);
   * not_run: it could not run (error says why, e.g. AMI not connected);
   * disabled: Asterisk integration is switched off in this instance.
   */
  result: 'done' | 'not_run' | 'disabled';
  /** Objects written to Asterisk: peers and dial plan steps added, changed or removed. */
  changes: { action: 'add' | 'change' | 'remove'; object: string }[];
  /** Modules reloaded. */
  reloaded: string[];
  /** Peers Asterisk shows as desired after the run. */
  verified: string[];
  /** Peers that did not verify, with the reason. */
  failed: { name: string; error: string }[];
  /** Problems not tied to one peer (e.g. an orphan still loaded). */
  problems: string[];
  error: string | null;
  startedAt: number | null;
  finishedAt: number | null;
  /** Milliseconds per phase of the run (read, apply, verify, forced, record); empty when it did not run. */
  phasesMs: Record<string, number>;
}

export interface AsteriskPort {
  /**
   * Peers changed in the DB: bring Asterisk in line. Coalesced with other
   * calls; resolves when the resulting sync finished (applied and verified, or
   * recorded as failed on the peers). Never rejects for an Asterisk failure.
   */
  syncPeers(reason: string): Promise<void>;
  /**
   * Originates a test call through the named peer to the partner's test
   * extension and keeps the result on the peer (the one writer of
   * last_test_call).
   */
  testCall(peerName: string): Promise<TestCallResult>;
  status(): AsteriskConnectionStatus;
  /**
   * Runs a reconcile at once (joining one already queued) and reports it.
   * verify 'full' (the default) reads back everything Asterisk holds, which
   * also catches dial plan edits made on the Asterisk CLI (they raise no
   * event); 'changed' reads back only what may have changed since it was last
   * seen. Never rejects.
   */
  reconcileNow(reason: string, opts?: { verify?: 'full' | 'changed' }): Promise<ReconcileNowReport>;
}

export const ASTERISK_DISABLED_MESSAGE = 'Asterisk integration is disabled in this instance';

/** Used when Asterisk is switched off in config: peers stay pending, nothing is applied. */
export class DisabledAsteriskPort implements AsteriskPort {
  async syncPeers(): Promise<void> {}
  async testCall(): Promise<TestCallResult> {
    return { answered: false, setupMs: null, error: ASTERISK_DISABLED_MESSAGE };
  }
  async reconcileNow(): Promise<ReconcileNowReport> {
    return {
      result: 'disabled',
      changes: [],
      reloaded: [],
      verified: [],
      failed: [],
      problems: [],
      error: `${ASTERISK_DISABLED_MESSAGE}: there is nothing to reconcile`,
      startedAt: null,
      finishedAt: null,
      phasesMs: {},
    };
  }
  status(): AsteriskConnectionStatus {
    return {
      enabled: false,
      backend: 'files',
      ami: 'disabled',
      ari: 'disabled',
      monitoring: 'disabled',
      lastReconcileAt: null,
      lastReconcileError: null,
    };
  }
}
