/**
 * The narrow views of the AMI and ARI clients that the rest of the Asterisk
 * layer depends on. AmiClient and AriClient satisfy them structurally; keeping
 * the views small keeps the applier, reconciler and monitor independent of
 * the client libraries.
 */

export type AmiMessage = Record<string, string>;
export type { LinkState, LinkStatus } from './reconnecting-link';
import type { LinkState, LinkStatus } from './reconnecting-link';

export interface IaxPeerView {
  name: string;
  host: string | null;
  port: number | null;
  status: string;
  state: 'ok' | 'lagged' | 'unreachable' | 'unknown' | 'unmonitored';
  latencyMs: number | null;
}

interface Emitter {
  on(event: string, listener: (...args: never[]) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
}

/** The lifecycle both links share (reconnecting-link.ts). */
interface Link extends Emitter {
  readonly state: LinkState;
  /** The state with why and since when (absent on links that cannot say). */
  readonly status?: LinkStatus;
  start(): void;
  stop(): Promise<void>;
  whenConnected(timeoutMs?: number): Promise<void>;
}

export interface AmiLink extends Link {
  action(fields: Record<string, string>, opts?: { timeoutMs?: number }): Promise<AmiMessage>;
  listAction(
    fields: Record<string, string>,
    opts?: { timeoutMs?: number },
  ): Promise<{ response: AmiMessage; events: AmiMessage[] }>;
  command(cli: string, opts?: { timeoutMs?: number }): Promise<string>;
  iaxPeerList(): Promise<IaxPeerView[]>;
  /** Resolves with the attempts it took; the first is on the wire when the promise is returned. */
  reload(module: string, opts?: { retries?: number }): Promise<number>;
}

export interface OriginateParams {
  /** e.g. IAX2/peer/1234 */
  endpoint: string;
  extension?: string;
  context?: string;
  priority?: number;
  /** Stasis app to put the channel into instead of the dial plan. */
  app?: string;
  appArgs?: string;
  timeoutSec?: number;
  channelId?: string;
  callerId?: string;
  variables?: Record<string, string>;
}

export interface AriLink extends Link {
  originate(p: OriginateParams): Promise<{ id: string; state: string }>;
  hangup(channelId: string): Promise<void>;
  /** False while the app is not subscribed to endpoint:IAX2 events (absent on links that cannot say). */
  readonly subscribedToIax?: boolean;
  /** Subscribes to endpoint:IAX2 if not yet; false when Asterisk has no IAX2 peer (or ARI is down). */
  ensureSubscribed?(): Promise<boolean>;
}
