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
  /** Checks what Asterisk actually holds against the state. */
  verify(state: DesiredState): Promise<VerifyReport>;
  close(): Promise<void>;
}
