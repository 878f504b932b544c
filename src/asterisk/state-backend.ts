import type { DesiredState } from './desired-state';

/**
 * How the desired state reaches Asterisk. `files` writes the two generated
 * files and reloads the module whose file changed; `realtime` writes rows in
 * Asterisk's realtime tables. The reconciler drives either through this.
 */

export type DriftAction = 'add' | 'change' | 'remove';

export interface ApplyReport {
  /** Objects written: peers and dial plan steps added, changed or removed. */
  changes: { action: DriftAction; object: string }[];
  /** Modules reloaded by this apply. */
  reloaded: string[];
  /**
   * Where the apply spent its time, ms, for the steps a backend times (the
   * files backend: render, write, reload); the reconciler reports them beside
   * its own phases and what is left of the apply as `apply`.
   */
  phasesMs?: Record<string, number>;
  /**
   * Resolves once what the apply wrote survives a power loss too (the files
   * backend's folder fsync after its renames); Asterisk holds the new state
   * already. The reconciler records the apply states first and waits for it
   * before the run ends. Absent when there is nothing to wait for.
   */
  durable?: Promise<void>;
}

export interface VerifyReport {
  /** Peers Asterisk does not show as desired, with the reason. Peers not listed are verified. */
  peerErrors: Map<string, string>;
  /** Problems not tied to one desired peer (an orphan that is still loaded). */
  problems: string[];
}

export interface StateBackend {
  readonly kind: 'files' | 'realtime';
  /** Whether Asterisk qualifies these peers (realtime peers are never probed). */
  readonly monitorable: boolean;
  /**
   * Makes Asterisk's configuration match the state. With force, makes
   * Asterisk re-read it even when nothing changed (after a failed verify).
   * Throws an AppError when it cannot write at all; nothing is half-written.
   */
  apply(state: DesiredState, opts: { force: boolean }): Promise<ApplyReport>;
  /**
   * Checks what Asterisk actually holds against the state. With full, reads
   * back everything; without, a backend may skip re-reading what it verified
   * before and what nothing can have changed since (see forgetVerified).
   */
  verify(state: DesiredState, opts?: { full?: boolean }): Promise<VerifyReport>;
  /** Asterisk may have changed behind our back (a new session, a foreign reload): the next verify reads all. */
  forgetVerified?(): void;
  /** The dial plan was reloaded (by anyone): the next verify reads it again. */
  forgetDialplan?(): void;
  /**
   * Calls onDrift when what the backend wrote is changed by someone else (the
   * files backend watches its generated files); returns the function that stops it.
   */
  watchDrift?(onDrift: (what: string) => void): () => void;
  close(): Promise<void>;
}
