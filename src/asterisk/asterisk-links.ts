/**
 * The narrow views of the AMI and ARI clients that the rest of the Asterisk
 * layer depends on. AmiClient and AriClient satisfy them structurally; keeping
 * the views small keeps the applier, reconciler and monitor independent of
 * the client libraries.
 */

export type AmiMessage = Record<string, string>;
export type LinkState = 'connected' | 'connecting' | 'disconnected';

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

export interface AmiLink extends Emitter {
  readonly state: LinkState;
  start(): void;
  stop(): Promise<void>;
  whenConnected(timeoutMs?: number): Promise<void>;
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

export interface AriLink extends Emitter {
  readonly state: LinkState;
  start(): void;
  stop(): Promise<void>;
  whenConnected(timeoutMs?: number): Promise<void>;
  originate(p: {
    endpoint: string;
    extension?: string;
    context?: string;
    priority?: number;
    app?: string;
    appArgs?: string;
    timeoutSec?: number;
    channelId?: string;
    callerId?: string;
    variables?: Record<string, string>;
  }): Promise<{ id: string; state: string }>;
  hangup(channelId: string): Promise<void>;
  /** False while the app is not subscribed to endpoint:IAX2 events (absent on links that cannot say). */
  readonly subscribedToIax?: boolean;
  /** Subscribes to endpoint:IAX2 if not yet; false when Asterisk has no IAX2 peer (or ARI is down). */
  ensureSubscribed?(): Promise<boolean>;
}
