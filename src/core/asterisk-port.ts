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

/**
 * The state of one Asterisk link (AMI, ARI): not started or stopped,
 * trying its first connection (or again right after losing one), connected,
 * or failing for one of three reasons that need different fixes: nothing
 * answers at that address, something answers that is not AMI/ARI (a wrong
 * port), or Asterisk refused the user name or password.
 */
export const ASTERISK_LINK_STATES = [
  'disconnected',
  'connecting',
  'connected',
  'unreachable',
  'wrong_port',
  'login_refused',
] as const;
export type AsteriskLinkState = (typeof ASTERISK_LINK_STATES)[number];
export type AsteriskLinkFailure = Extract<AsteriskLinkState, 'unreachable' | 'wrong_port' | 'login_refused'>;

/** How a link state reads in the panel, the CLI and the start-up log. */
export const LINK_STATE_TEXT: Record<AsteriskLinkState | 'disabled', string> = {
  disconnected: 'disconnected',
  connecting: 'connecting',
  connected: 'connected',
  unreachable: 'unreachable (nothing answers at the configured address)',
  wrong_port: 'wrong port (something answers there, but not Asterisk)',
  login_refused: 'login refused (check the user name and password)',
  disabled: 'disabled',
};

/** Whether trunks are monitored: only with the files backend, and only while AMI is connected. */
export const MONITORING_STATES = [
  'available',
  'unavailable_ami',
  'unavailable_realtime',
  'disabled',
] as const;

export interface AsteriskConnectionStatus {
  enabled: boolean;
  backend: 'files' | 'realtime';
  ami: AsteriskLinkState | 'disabled';
  ari: AsteriskLinkState | 'disabled';
  /** Why the AMI link is not connected (no secret), or null. */
  amiDetail?: string | null;
  /** Why the ARI link is not connected (no secret), or null. */
  ariDetail?: string | null;
  /**
   * available: trunks are monitored. unavailable_ami: the AMI link is down,
   * so the reachability shown is stale. unavailable_realtime: realtime peers
   * are never qualified. Say so wherever status is shown.
   */
  monitoring: (typeof MONITORING_STATES)[number];
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
  /**
   * Milliseconds per phase of the run (read, build, render, write, reload, apply, verify, forced, record; they
   * add up to the run); empty when it did not run.
   */
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
      amiDetail: null,
      ariDetail: null,
      monitoring: 'disabled',
      lastReconcileAt: null,
      lastReconcileError: null,
    };
  }
}
