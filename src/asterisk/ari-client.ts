/**
 * Asterisk REST Interface client: REST calls through fetch with basic auth,
 * events through the app's WebSocket with our own ping. Connecting,
 * reconnecting and the link state are the shared lifecycle of
 * reconnecting-link.ts; this file says how the event WebSocket opens and why
 * it did not (401: login refused; another HTTP answer or none in HTTP: wrong
 * port).
 *
 * Uses `ws` directly rather than the `ari-client` package: ari-client loads
 * the whole Swagger description at connect, gives up reconnecting after about
 * ten tries and never pings, so a half-open socket goes unnoticed. The few
 * REST calls we need are plain fetches.
 */
import WebSocket from 'ws';
import type { OriginateParams } from './asterisk-links';
import type { Logger } from '../logging/logger';
import { exponentialBackoff } from '../jobs/backoff';
import {
  type LinkSession,
  type LinkState,
  LinkError,
  LinkFailure,
  type OpenContext,
  ReconnectingLink,
  transportFailure,
  transportSession,
} from './reconnecting-link';

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

export class AriError extends LinkError<AriErrorCode> {
  /** HTTP status for ARI_HTTP_ERROR. */
  readonly status?: number;

  constructor(code: AriErrorCode, message: string, status?: number) {
    super('AriError', code, message);
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

export type AriConnectionState = LinkState;

export const ARI_NAMED_EVENTS = [
  'PeerStatusChange',
  'EndpointStateChange',
  'StasisStart',
  'StasisEnd',
  'ChannelStateChange',
  'ChannelDestroyed',
] as const;
export type AriNamedEvent = (typeof ARI_NAMED_EVENTS)[number];

/**
 * Besides the link's own (connected after every (re)connect of the WebSocket,
 * see subscribedToIax for the endpoint:IAX2 subscription; disconnected; state).
 */
export type AriClientEvents = {
  event: [AriEvent];
} & { [K in AriNamedEvent]: [AriEvent] };

export type { OriginateParams } from './asterisk-links';

const NAMED = new Set<string>(ARI_NAMED_EVENTS);

interface AriChannelJson {
  id: string;
  state: string;
}

export class AriClient extends ReconnectingLink<AriClientEvents> {
  private readonly base: string;
  private readonly authHeader: string;
  private readonly opts: Required<Omit<AriClientOptions, 'logger' | 'password'>>;
  private ws: WebSocket | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private subscribeTimer: NodeJS.Timeout | null = null;
  private subscribed = false;

  constructor(opts: AriClientOptions) {
    const base = opts.url.replace(/\/+$/, '');
    const reconnect = opts.reconnect ?? { initialMs: 500, maxMs: 30_000 };
    super({ name: 'ARI', where: base, logger: opts.logger.child({ component: 'ari' }), reconnect });
    this.base = base;
    this.authHeader = `Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString('base64')}`;
    this.opts = {
      url: this.base,
      username: opts.username,
      app: opts.app,
      requestTimeoutMs: opts.requestTimeoutMs ?? 10_000,
      pingMs: opts.pingMs ?? 15_000,
      reconnect,
      subscribeRetry: opts.subscribeRetry ?? { initialMs: 1000, maxMs: 30_000 },
    };
  }

  protected notConnectedError(message: string): Error {
    return new AriError('ARI_TIMEOUT', message);
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
   * Opens the app's event WebSocket (the login: basic auth on the upgrade
   * request) and tries the endpoint:IAX2 subscription before handing the
   * session over. Why it failed: nothing answered (unreachable); 401 or 403
   * (login refused); any other HTTP answer, or an answer that is not HTTP
   * (wrong port: another service, or ARI not enabled there).
   */
  protected openSession(ctx: OpenContext): Promise<LinkSession> {
    const params = new URLSearchParams({ app: this.opts.app, subscribeAll: 'false' });
    const wsUrl = `${this.base.replace(/^http/, 'ws')}/events?${params.toString()}`;
    const ws = new WebSocket(wsUrl, {
      headers: { authorization: this.authHeader },
      handshakeTimeout: this.opts.requestTimeoutMs,
    });
    this.ws = ws;
    const generation = this.sessionGeneration;
    let failure: LinkFailure | null = null;
    let lastError = '';
    let handedOver = false;
    let alive = true;
    const fail = (f: LinkFailure) => {
      failure ??= f;
      ws.terminate();
    };
    const onAbort = () => fail(new LinkFailure('unreachable', 'stopped'));
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    const session = transportSession(
      () => ws.close(),
      () => ws.terminate(),
    );

    return new Promise<LinkSession>((resolve, reject) => {
      ws.on('open', () => {
        this.subscribed = false;
        this.startPing(ws, () => {
          if (!alive) return false;
          alive = false;
          return true;
        });
        void this.ensureSubscribed().then((subscribed) => {
          ctx.signal.removeEventListener('abort', onAbort);
          if (failure || ws.readyState !== WebSocket.OPEN) return;
          if (!subscribed) this.scheduleSubscribe(generation, 0);
          handedOver = true;
          this.log.debug('ARI events open', { app: this.opts.app, subscribedToIax: this.subscribed });
          resolve(session);
        });
      });
      ws.on('pong', () => {
        alive = true;
      });
      ws.on('message', (data: WebSocket.RawData) => {
        if (ws !== this.ws) return;
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
        const status = res.statusCode ?? 0;
        fail(
          status === 401 || status === 403
            ? new LinkFailure(
                'login_refused',
                `ARI at ${this.base} refused the login of user '${this.opts.username}' (HTTP ${status})`,
              )
            : new LinkFailure(
                'wrong_port',
                `${this.base} answers HTTP ${status} to the ARI events request (another service's port, or ARI not enabled there)`,
              ),
        );
      });
      ws.on('error', (e: Error & { code?: string }) => {
        lastError = e.code ?? e.message;
      });
      ws.on('close', (code: number) => {
        ctx.signal.removeEventListener('abort', onAbort);
        if (ws === this.ws) {
          this.ws = null;
          this.subscribed = false;
          if (this.subscribeTimer) clearTimeout(this.subscribeTimer);
          this.subscribeTimer = null;
          this.stopPing();
        }
        session.closed();
        if (handedOver) {
          ctx.lost(lastError || `closed (${code})`);
          return;
        }
        reject(failure ?? this.transportError(lastError, code));
      });
    });
  }

  private transportError(lastError: string, code: number): LinkFailure {
    if (/^[A-Z][A-Z0-9_]+$/.test(lastError)) return transportFailure(lastError, this.base);
    if (/handshake has timed out/i.test(lastError)) {
      return new LinkFailure(
        'unreachable',
        `${this.base}: no answer within ${this.opts.requestTimeoutMs} ms`,
      );
    }
    if (lastError) {
      return new LinkFailure(
        'wrong_port',
        `${this.base} answers, but not as ARI: ${lastError.slice(0, 120)}`,
      );
    }
    return new LinkFailure('unreachable', `${this.base} closed the connection (${code})`);
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
    const generation = this.sessionGeneration;
    try {
      await this.request('POST', `/applications/${encodeURIComponent(this.opts.app)}/subscription`, {
        query: { eventSource: 'endpoint:IAX2' },
      });
    } catch (e) {
      if (generation === this.sessionGeneration && this.ws?.readyState === WebSocket.OPEN) {
        this.log.debug('ARI subscription to endpoint:IAX2 not possible yet', {
          reason: e instanceof Error ? e.message : String(e),
        });
      }
      return false;
    }
    if (generation !== this.sessionGeneration) return false;
    this.subscribed = true;
    if (this.subscribeTimer) clearTimeout(this.subscribeTimer);
    this.subscribeTimer = null;
    return true;
  }

  private scheduleSubscribe(generation: number, attempt: number): void {
    if (this.subscribeTimer) clearTimeout(this.subscribeTimer);
    const { initialMs, maxMs } = this.opts.subscribeRetry;
    const delay = exponentialBackoff(attempt, { initialMs, maxMs });
    this.subscribeTimer = setTimeout(() => {
      this.subscribeTimer = null;
      if (generation !== this.sessionGeneration || this.ws?.readyState !== WebSocket.OPEN) return;
      void this.ensureSubscribed().then((ok) => {
        if (!ok && generation === this.sessionGeneration) this.scheduleSubscribe(generation, attempt + 1);
      });
    }, delay);
    this.subscribeTimer.unref();
  }

  private startPing(ws: WebSocket, answeredSinceLast: () => boolean): void {
    this.stopPing();
    this.pingTimer = setInterval(() => {
      if (ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
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
