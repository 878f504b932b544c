import type { Logger } from '../logging/logger';
import type { DesiredState } from './desired-state';
import { FRIEND_TEMPLATE, IAX_FILE } from './files-renderer';
import { handWrittenIaxSections } from './iax-conf-sections';

/**
 * What the files backend may write: the peers it can own (not those whose
 * name a hand-written iax.conf section already uses) and whether the dial
 * plan text needs rendering again. Decides; reads only iax.conf and what it
 * includes, writes nothing.
 */

/**
 * Peers left out of the generated file because iax.conf (or a file it
 * includes) has a hand-written section of the same name: Asterisk would build
 * both from the first section, so the trunk would silently dial the
 * hand-written peer. Reported as the peer's error until one is renamed.
 */
export class HandWrittenClashes {
  private readonly clashes = new Map<string, string>();
  /**
   * Whether a hand-written section has the friends' template's name. A friend
   * naming its template inherits the first section of that name Asterisk
   * reads, and iax.conf is read before the generated file it includes: the
   * friends would take the admin's lines (a context, a host) instead of
   * ours. Then every friend is written whole, without the template.
   */
  private templateTaken = false;

  constructor(
    private readonly configDir: string,
    private readonly logger: Logger,
  ) {}

  /** Reads the hand-written sections again and returns the state without the peers that clash with one. */
  async exclude(state: DesiredState): Promise<DesiredState> {
    this.clashes.clear();
    const handWritten = await handWrittenIaxSections(this.configDir, IAX_FILE);
    const taken = handWritten.has(FRIEND_TEMPLATE);
    if (taken && !this.templateTaken) {
      this.logger.warn(
        `iax.conf (or a file it includes) has a section [${FRIEND_TEMPLATE}] that the sidecar did not write; ` +
          'federation friends are written whole, without that template, until it is renamed',
        { component: 'asterisk' },
      );
    }
    this.templateTaken = taken;
    const owned = state.peers.filter((p) => {
      if (!handWritten.has(p.friend.name.toLowerCase())) return true;
      this.clashes.set(
        p.peer.name,
        `iax.conf (or a file it includes) already has a section [${p.friend.name}] that the sidecar did not write; ` +
          'the federation peer is left out until one of them is renamed',
      );
      return false;
    });
    if (this.clashes.size > 0) {
      this.logger.warn('peers clash with hand-written iax.conf sections', {
        component: 'asterisk',
        peers: [...this.clashes.keys()],
      });
    }
    return owned.length === state.peers.length ? state : { ...state, peers: owned };
  }

  /** How to render the iax file after the last exclude: with the friends' template unless its name is taken. */
  renderOptions(): { template: boolean } {
    return { template: !this.templateTaken };
  }

  /** The state without the peers the last exclude left out (without reading iax.conf again). */
  owned(state: DesiredState): DesiredState {
    if (this.clashes.size === 0) return state;
    return { ...state, peers: state.peers.filter((p) => !this.clashes.has(p.peer.name)) };
  }

  /** Why the peer was left out by the last exclude, or undefined when it was not. */
  reasonFor(peerName: string): string | undefined {
    return this.clashes.get(peerName);
  }
}

/** Whether two states render the same dial plan file: the same contexts, steps and order. */
export function sameDialplan(a: DesiredState, b: DesiredState): boolean {
  if (a.outboundContext !== b.outboundContext || a.peers.length !== b.peers.length) return false;
  for (let i = 0; i < a.peers.length; i++) {
    const pa = a.peers[i];
    const pb = b.peers[i];
    if (pa.inboundContext !== pb.inboundContext) return false;
    if (pa.steps === pb.steps) continue; // handed on unchanged by buildDesiredState
    if (pa.steps.length !== pb.steps.length) return false;
    for (let j = 0; j < pa.steps.length; j++) {
      const sa = pa.steps[j];
      const sb = pb.steps[j];
      if (
        sa.context !== sb.context ||
        sa.exten !== sb.exten ||
        sa.priority !== sb.priority ||
        sa.app !== sb.app ||
        sa.appData !== sb.appData
      ) {
        return false;
      }
    }
  }
  return true;
}
