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

export interface AsteriskPort {
  /**
   * Peers changed in the DB: bring Asterisk in line. Coalesced with other
   * calls; resolves when the resulting sync finished (applied and verified, or
   * recorded as failed on the peers). Never rejects for an Asterisk failure.
   */
  syncPeers(reason: string): Promise<void>;
  /** Originates a test call through the named peer to the partner's test extension. */
  testCall(peerName: string): Promise<TestCallResult>;
  status(): AsteriskConnectionStatus;
}

/** Used when Asterisk is switched off in config: peers stay pending, nothing is applied. */
export class DisabledAsteriskPort implements AsteriskPort {
  async syncPeers(): Promise<void> {}
  async testCall(): Promise<TestCallResult> {
    return { answered: false, setupMs: null, error: 'Asterisk integration is disabled in this instance' };
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
