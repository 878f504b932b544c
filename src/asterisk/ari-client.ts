/**
 * Asterisk REST Interface client: REST calls through fetch with basic auth,
 * events through the app's WebSocket with our own ping and reconnect.
 *
 * Uses `ws` directly rather than the `ari-client` package: ari-client loads
 * the whole Swagger description at connect, gives up reconnecting after about
 * ten tries and never pings, so a half-open socket goes unnoticed. The few
 * REST calls we need are plain fetches.
 */
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import type { Logger } from '../logging/logger';
import { reconnectDelay } from '../core/reconnect-backoff';
import { exponentialBackoff } from '../jobs/backoff';

export interface AriClientOptions {
  /** Base URL of ARI, e.g. http://127.0.0.1:8088/ari */
  url: string;
  username: string;
  password: string;
  /** Stasis application name this client registers. */
  app: string;
  logger: Logger;
  /** Timeout of one REST request (ms); default 10 000. */
  requestTimeoutMs?: number;
  /** Interval of WebSocket pings (ms); a missing pong by the next ping drops the socket. Default 15 000. */
  pingMs?: number;
  /** Reconnect backoff; default 500 ms doubling up to 30 s, with jitter. */
  reconnect?: { initialMs: number; maxMs: number };
  /**
   * Retries of the endpoint:IAX2 subscription while Asterisk has no IAX2 peer;
   * default 1 s doubling up to 30 s. The Asterisk feature also subscribes
   * right after it applies peers, so this is only the fallback.
   */
  subscribeRetry?: { initialMs: number; maxMs: number };
}

export type AriErrorCode = 'ARI_HTTP_ERROR' | 'ARI_TIMEOUT' | 'ARI_UNREACHABLE';

export class AriError extends Error {
  readonly code: AriErrorCode;
  /** HTTP status for ARI_HTTP_ERROR. */
  readonly status?: number;

  constructor(code: AriErrorCode, message: string, status?: number) {
    super(message);
    this.name = 'AriError';
    this.code = code;
    this.status = status;
  }
}

/** An ARI event as delivered on the WebSocket (see Asterisk's ARI event models). */
export interface AriEvent {
  type: string;
  application?: string;
  timestamp?: string;
  [key: string]: unknown;
}

export type AriConnectionState = 'connected' | 'connecting' | 'disconnected';

export const ARI_NAMED_EVENTS = [
  'PeerStatusChange',
  'EndpointStateChange',
  'StasisStart',
  'StasisEnd',
  'ChannelStateChange',
  'ChannelDestroyed',
] as const;
export type AriNamedEvent = (typeof ARI_NAMED_EVENTS)[number];

export type AriClientEvents = {
  /** After every (re)connect of the WebSocket (see subscribedToIax for the endpoint:IAX2 subscription). */
  connected: [];
  disconnected: [reason: string];
  event: [AriEvent];
} & { [K in AriNamedEvent]: [AriEvent] };

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

const NAMED = new Set<string>(ARI_NAMED_EVENTS);

interface AriChannelJson {
  id: string;
  state: string;
}

export class AriClient extends EventEmitter<AriClientEvents> {
  private readonly base: string;
  private readonly authHeader: string;
  private readonly opts: Required<Omit<AriClientOptions, 'logger' | 'password'>>;
  private readonly log: Logger;
  private ws: WebSocket | null = null;
  private generation = 0;
  private running = false;
  private _state: AriConnectionState = 'disconnected';
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private subscribeTimer: NodeJS.Timeout | null = null;
  private subscribed = false;
  private closed: Promise<void> = Promise.resolve();

  constructor(opts: AriClientOptions) {
    super();
    this.base = opts.url.replace(/\/+$/, '');
    this.authHeader = `Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString('base64')}`;
    this.opts = {
      url: this.base,
      username: opts.username,
      app: opts.app,
      requestTimeoutMs: opts.requestTimeoutMs ?? 10_000,
      pingMs: opts.pingMs ?? 15_000,
      reconnect: opts.reconnect ?? { initialMs: 500, maxMs: 30_000 },
      subscribeRetry: opts.subscribeRetry ?? { initialMs: 1000, maxMs: 30_000 },
    };
    this.log = opts.logger.child({ component: 'ari' });
  }

  get state(): AriConnectionState {
    return this._state;
  }

  /** Opens the event WebSocket; on any loss reconnects with backoff until stop(). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.connect();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    if (this.subscribeTimer) clearTimeout(this.subscribeTimer);
    this.subscribeTimer = null;
    this.stopPing();
    const ws = this.ws;
    if (ws) {
      ws.close();
      const timer = setTimeout(() => ws.terminate(), 500);
      await this.closed;
      clearTimeout(timer);
    }
    this._state = 'disconnected';
  }

  whenConnected(timeoutMs = 30_000): Promise<void> {
    if (this._state === 'connected') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onConnected = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.off('connected', onConnected);
        reject(new AriError('ARI_TIMEOUT', `ARI not connected within ${timeoutMs} ms`));
      }, timeoutMs);
      this.once('connected', onConnected);
    });
  }

  async originate(p: OriginateParams): Promise<{ id: string; state: string }> {
    const query: Record<string, string | undefined> = {
      endpoint: p.endpoint,
      extension: p.extension,
      context: p.context,
      priority: p.priority === undefined ? undefined : String(p.priority),
      app: p.app,
      appArgs: p.appArgs,
      timeout: p.timeoutSec === undefined ? undefined : String(p.timeoutSec),
      channelId: p.channelId,
      callerId: p.callerId,
    };
    const body = p.variables ? { variables: p.variables } : undefined;
    const channel = await this.request<AriChannelJson>('POST', '/channels', { query, body });
    return { id: channel.id, state: channel.state };
  }

  /** Hangs a channel up; a channel that is already gone (404) is not an error. */
  async hangup(channelId: string): Promise<void> {
    try {
      await this.request('DELETE', `/channels/${encodeURIComponent(channelId)}`);
    } catch (e) {
      if (e instanceof AriError && e.status === 404) return;
      throw e;
    }
  }

  /** One REST call; resolves with the parsed JSON body (undefined for 204). */
  async request<T = unknown>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    opts: { query?: Record<string, string | undefined>; body?: unknown; timeoutMs?: number } = {},
  ): Promise<T> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) params.set(k, v);
    const qs = params.toString();
    const url = `${this.base}${path}${qs ? `?${qs}` : ''}`;
    const timeoutMs = opts.timeoutMs ?? this.opts.requestTimeoutMs;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          authorization: this.authHeader,
          ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      const name = e instanceof Error ? e.name : '';
      if (name === 'TimeoutError' || name === 'AbortError') {
        throw new AriError('ARI_TIMEOUT', `ARI ${method} ${path} timed out after ${timeoutMs} ms`);
      }
      const cause = e instanceof Error && e.cause instanceof Error ? e.cause.message : String(e);
      throw new AriError('ARI_UNREACHABLE', `ARI ${method} ${path} failed: ${cause}`);
    }
    const text = await res.text();
    if (!res.ok) {
      let detail = text.slice(0, 200);
      try {
        const parsed = JSON.parse(text) as { message?: string; error?: string };
        detail = parsed.message ?? parsed.error ?? detail;
      } catch {
        // not JSON: keep the text
      }
      throw new AriError(
        'ARI_HTTP_ERROR',
        `ARI ${method} ${path} answered ${res.status}: ${detail}`,
        res.status,
      );
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * Calls each listener on its own, containing its exceptions: a throwing
   * listener must neither starve the others nor break the socket handling
   * (or crash the process from a socket callback).
   */
  private safeEmit<K extends keyof AriClientEvents>(event: K, ...args: AriClientEvents[K]): void {
    for (const listener of this.rawListeners(event)) {
      try {
        (listener as (...a: unknown[]) => unknown).apply(this, args);
      } catch (e) {
        this.log.error('ARI event listener threw', {
          event,
          reason: e instanceof Error ? e.message : String(e),
        });
      }
    }
  }

  private connect(): void {
    if (!this.running) return;
    const generation = ++this.generation;
    this._state = 'connecting';
    const params = new URLSearchParams({ app: this.opts.app, subscribeAll: 'false' });
    const wsUrl = `${this.base.replace(/^http/, 'ws')}/events?${params.toString()}`;
    const ws = new WebSocket(wsUrl, {
      headers: { authorization: this.authHeader },
      handshakeTimeout: this.opts.requestTimeoutMs,
    });
    this.ws = ws;
    let resolveClosed: () => void = () => undefined;
    this.closed = new Promise((r) => (resolveClosed = r));
    let lastError = '';
    let alive = true;

    ws.on('open', () => {
      if (generation !== this.generation) return;
      void this.onOpen(ws, generation, () => (alive = true));
    });
    ws.on('pong', () => {
      alive = true;
    });
    ws.on('message', (data: WebSocket.RawData) => {
      if (generation !== this.generation) return;
      let event: AriEvent;
      try {
        event = JSON.parse(data.toString()) as AriEvent;
      } catch {
        this.log.warn('ARI sent a message that is not JSON; ignored');
        return;
      }
      if (typeof event?.type !== 'string') return;
      this.safeEmit('event', event);
      if (NAMED.has(event.type)) this.safeEmit(event.type as AriNamedEvent, event);
    });
    ws.on('unexpected-response', (_req, res) => {
      lastError = `HTTP ${res.statusCode ?? '?'}`;
      ws.terminate();
    });
    ws.on('error', (e: Error & { code?: string }) => {
      lastError = e.code ?? e.message;
    });
    ws.on('close', (code: number) => {
      resolveClosed();
      if (generation !== this.generation) return;
      this.onClosed(lastError || `closed (${code})`);
    });
    this.startPing(ws, generation, () => {
      if (!alive) return false;
      alive = false;
      return true;
    });
  }

  /** True once the app is subscribed to endpoint:IAX2 on the current connection. */
  get subscribedToIax(): boolean {
    return this.subscribed;
  }

  /**
   * Subscribes the app to IAX2 endpoint events if it is not yet. Asterisk has
   * no `endpoint:IAX2` event source until the first IAX2 peer exists, so on an
   * instance without peers this fails until one is applied; the client retries
   * by itself, and the applier may call this right after applying peers.
   */
  async ensureSubscribed(): Promise<boolean> {
    if (this.subscribed) return true;
    const generation = this.generation;
    try {
      await this.request('POST', `/applications/${encodeURIComponent(this.opts.app)}/subscription`, {
        query: { eventSource: 'endpoint:IAX2' },
      });
    } catch (e) {
      if (generation === this.generation && this._state === 'connected') {
        this.log.debug('ARI subscription to endpoint:IAX2 not possible yet', {
          reason: e instanceof Error ? e.message : String(e),
        });
      }
      return false;
    }
    if (generation !== this.generation) return false;
    this.subscribed = true;
    if (this.subscribeTimer) clearTimeout(this.subscribeTimer);
    this.subscribeTimer = null;
    return true;
  }

  private async onOpen(ws: WebSocket, generation: number, markAlive: () => void): Promise<void> {
    this.subscribed = false;
    markAlive();
    this._state = 'connected';
    this.attempt = 0;
    if (!(await this.ensureSubscribed())) this.scheduleSubscribe(generation, 0);
    if (generation !== this.generation || ws.readyState !== WebSocket.OPEN) return;
    this.log.info('ARI connected', { url: this.base, app: this.opts.app, subscribedToIax: this.subscribed });
    this.safeEmit('connected');
  }

  private scheduleSubscribe(generation: number, attempt: number): void {
    if (this.subscribeTimer) clearTimeout(this.subscribeTimer);
    const { initialMs, maxMs } = this.opts.subscribeRetry;
    const delay = exponentialBackoff(attempt, { initialMs, maxMs });
    this.subscribeTimer = setTimeout(() => {
      this.subscribeTimer = null;
      if (generation !== this.generation || this._state !== 'connected') return;
      void this.ensureSubscribed().then((ok) => {
        if (!ok && generation === this.generation) this.scheduleSubscribe(generation, attempt + 1);
      });
    }, delay);
    this.subscribeTimer.unref();
  }

  private onClosed(reason: string): void {
    const wasConnected = this._state === 'connected';
    this.ws = null;
    this.subscribed = false;
    if (this.subscribeTimer) clearTimeout(this.subscribeTimer);
    this.subscribeTimer = null;
    this.stopPing();
    this._state = 'disconnected';
    if (wasConnected) this.log.warn('ARI disconnected', { url: this.base, reason });
    this.safeEmit('disconnected', reason);
    if (!this.running) return;
    const delay = reconnectDelay(this.attempt, this.opts.reconnect);
    this.attempt++;
    this.log.debug('ARI reconnect scheduled', { delayMs: delay, attempt: this.attempt, reason });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }

  private startPing(ws: WebSocket, generation: number, answeredSinceLast: () => boolean): void {
    this.stopPing();
    this.pingTimer = setInterval(() => {
      if (generation !== this.generation || ws.readyState !== WebSocket.OPEN) return;
      if (!answeredSinceLast()) {
        this.log.warn('ARI WebSocket missed a pong; dropping the connection');
        ws.terminate();
        return;
      }
      ws.ping();
    }, this.opts.pingMs);
    this.pingTimer.unref();
  }

  private stopPing(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
  }
}
