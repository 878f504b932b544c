/**
 * Asterisk Manager Interface client: one TCP connection, promise per action,
 * list actions collected by ActionID, heartbeat, reconnect forever.
 *
 * Written over net.Socket rather than wrapping the `asterisk-manager`
 * package: that package hands an action's callback only the first reply (no
 * list collection), has no action timeout, never settles callbacks pending at
 * a disconnect, reconnects on a fixed 10 s ladder while writing to
 * console.log, and turns repeated headers (Command's `Output:` lines) into
 * arrays. A wrapper would have had to bypass nearly all of it; the wire format
 * itself is small (see ami-protocol.ts).
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { Logger } from '../logging/logger';
import { RELOAD_RETRY, reconnectDelay } from '../core/reconnect-backoff';
import { exponentialBackoff } from '../jobs/backoff';
import { type AmiMessage, AmiParser, serializeAction } from './ami-protocol';
import { parseIaxPeerEntry, type IaxPeerEntry } from './ami-iax-peers';

export type { AmiMessage } from './ami-protocol';
export type { IaxPeerEntry } from './ami-iax-peers';

export type AmiErrorCode = 'AMI_TIMEOUT' | 'AMI_DISCONNECTED' | 'AMI_ERROR_RESPONSE' | 'AMI_NOT_CONNECTED';

export class AmiError extends Error {
  readonly code: AmiErrorCode;
  readonly response?: AmiMessage;

  constructor(code: AmiErrorCode, message: string, response?: AmiMessage) {
    super(message);
    this.name = 'AmiError';
    this.code = code;
    this.response = response;
  }
}

export interface AmiClientOptions {
  host: string;
  port: number;
  username: string;
  secret: string;
  logger: Logger;
  /** Default timeout of one action (ms); default 10 000. */
  actionTimeoutMs?: number;
  /** Interval of the Ping heartbeat (ms); default 15 000. */
  heartbeatMs?: number;
  /** Reconnect backoff; default 500 ms doubling up to 30 s, with jitter. */
  reconnect?: { initialMs: number; maxMs: number };
  /** Log in with `Events: on` (default) or `off`, for a session that only sends actions. */
  events?: boolean;
  /** The logger component name; default 'ami'. */
  component?: string;
}

export type AmiConnectionState = 'connected' | 'connecting' | 'disconnected';

/** Events with their own emit besides 'event'. */
export const AMI_NAMED_EVENTS = [
  'PeerStatus',
  'Reload',
  'FullyBooted',
  'Shutdown',
  'OriginateResponse',
] as const;
export type AmiNamedEvent = (typeof AMI_NAMED_EVENTS)[number];

export type AmiClientEvents = {
  /** After every successful login. */
  connected: [];
  /** When an established or half-established connection is lost. */
  disconnected: [reason: string];
  /** Every event that is not part of a list action's answer. */
  event: [AmiMessage];
} & { [K in AmiNamedEvent]: [AmiMessage] };

interface Pending {
  id: string;
  action: string;
  resolve: (m: AmiMessage) => void;
  reject: (e: AmiError) => void;
  timer: NodeJS.Timeout;
  list: {
    response: AmiMessage | null;
    events: AmiMessage[];
    done: (r: { response: AmiMessage; events: AmiMessage[] }) => void;
  } | null;
}

const NAMED = new Set<string>(AMI_NAMED_EVENTS);

export class AmiClient extends EventEmitter<AmiClientEvents> {
  private readonly opts: Required<Omit<AmiClientOptions, 'logger' | 'component'>>;
  private readonly log: Logger;
  private socket: net.Socket | null = null;
  private generation = 0;
  private running = false;
  private _state: AmiConnectionState = 'disconnected';
  private readonly pending = new Map<string, Pending>();
  private nextId = 1;
  private readonly idPrefix = `uuru-${process.pid}-${Math.floor(Math.random() * 1e6).toString(36)}`;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private closed: Promise<void> = Promise.resolve();

  constructor(opts: AmiClientOptions) {
    super();
    this.opts = {
      host: opts.host,
      port: opts.port,
      username: opts.username,
      secret: opts.secret,
      actionTimeoutMs: opts.actionTimeoutMs ?? 10_000,
      heartbeatMs: opts.heartbeatMs ?? 15_000,
      reconnect: opts.reconnect ?? { initialMs: 500, maxMs: 30_000 },
      events: opts.events ?? true,
    };
    this.log = opts.logger.child({ component: opts.component ?? 'ami' });
  }

  get state(): AmiConnectionState {
    return this._state;
  }

  /** Connects and logs in; on any loss reconnects with backoff until stop(). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.connect();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.clearTimers();
    const socket = this.socket;
    if (socket && this._state === 'connected') {
      // Best effort: a clean Logoff keeps Asterisk's log free of "lost connection" noise.
      try {
        socket.write(serializeAction({ Action: 'Logoff', ActionID: this.newId() }));
      } catch {
        // socket already failing; destroy below
      }
    }
    if (socket) {
      socket.end();
      const timer = setTimeout(() => socket.destroy(), 500);
      await this.closed;
      clearTimeout(timer);
    }
    this.failPending('AMI_DISCONNECTED', 'AMI client stopped');
    this._state = 'disconnected';
  }

  /** Resolves once logged in (at once if already); rejects with AMI_TIMEOUT after timeoutMs. */
  whenConnected(timeoutMs = 30_000): Promise<void> {
    if (this._state === 'connected') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onConnected = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.off('connected', onConnected);
        reject(new AmiError('AMI_TIMEOUT', `AMI not connected within ${timeoutMs} ms`));
      }, timeoutMs);
      this.once('connected', onConnected);
    });
  }

  /** Sends one action; resolves with its response, rejects with AmiError. */
  action(fields: Record<string, string>, opts: { timeoutMs?: number } = {}): Promise<AmiMessage> {
    return this.send(fields, opts.timeoutMs, null);
  }

  /** Sends a list action and collects its events by ActionID until `EventList: Complete`. */
  listAction(
    fields: Record<string, string>,
    opts: { timeoutMs?: number } = {},
  ): Promise<{ response: AmiMessage; events: AmiMessage[] }> {
    return new Promise((resolve, reject) => {
      this.send(fields, opts.timeoutMs, resolve).catch(reject);
    });
  }

  /** Runs a CLI command through AMI and returns its output text. */
  async command(cli: string, opts: { timeoutMs?: number } = {}): Promise<string> {
    const response = await this.action({ Action: 'Command', Command: cli }, opts);
    return response.output ?? '';
  }

  /** IAX2 peers as Asterisk has them in memory (static and cached realtime), with qualify state. */
  async iaxPeerList(opts: { timeoutMs?: number } = {}): Promise<IaxPeerEntry[]> {
    const { events } = await this.listAction({ Action: 'IAXpeerlist' }, opts);
    return events.filter((e) => e.event?.toLowerCase() === 'peerentry').map(parseIaxPeerEntry);
  }

  /**
   * Reloads one module through the module-reload path (takes Asterisk's reload
   * lock, emits the Reload event). Retries with backoff while another reload
   * is in progress. Resolves with the number of attempts it took. The first
   * attempt is written to the socket before this returns its promise.
   */
  async reload(module: string, opts: { retries?: number } = {}): Promise<number> {
    const retries = opts.retries ?? 8;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.action({ Action: 'Reload', Module: module });
        return attempt + 1;
      } catch (e) {
        const busy =
          e instanceof AmiError &&
          e.code === 'AMI_ERROR_RESPONSE' &&
          /in progress|not fully booted|queued/i.test(e.response?.message ?? '');
        if (!busy || attempt >= retries) throw e;
        await new Promise((r) => setTimeout(r, exponentialBackoff(attempt, RELOAD_RETRY)));
      }
    }
  }

  private newId(): string {
    return `${this.idPrefix}-${this.nextId++}`;
  }

  private send(
    fields: Record<string, string>,
    timeoutMs: number | undefined,
    listDone: ((r: { response: AmiMessage; events: AmiMessage[] }) => void) | null,
  ): Promise<AmiMessage> {
    const socket = this.socket;
    const action = fields.Action ?? fields.action ?? '?';
    if (!socket || this._state !== 'connected') {
      return Promise.reject(new AmiError('AMI_NOT_CONNECTED', `AMI not connected (action ${action})`));
    }
    return this.write(socket, fields, timeoutMs ?? this.opts.actionTimeoutMs, listDone);
  }

  private write(
    socket: net.Socket,
    fields: Record<string, string>,
    timeoutMs: number,
    listDone: ((r: { response: AmiMessage; events: AmiMessage[] }) => void) | null,
  ): Promise<AmiMessage> {
    const id = this.newId();
    const action = fields.Action ?? fields.action ?? '?';
    let payload: string;
    try {
      payload = serializeAction({ ...fields, ActionID: id });
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<AmiMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new AmiError('AMI_TIMEOUT', `AMI action ${action} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        id,
        action,
        resolve,
        reject,
        timer,
        list: listDone ? { response: null, events: [], done: listDone } : null,
      });
      socket.write(payload);
    });
  }

  /**
   * Calls each listener on its own, containing its exceptions: a throwing
   * listener must neither starve the others nor break the socket handling
   * (or crash the process from a socket callback).
   */
  private safeEmit<K extends keyof AmiClientEvents>(event: K, ...args: AmiClientEvents[K]): void {
    for (const listener of this.rawListeners(event)) {
      try {
        (listener as (...a: unknown[]) => unknown).apply(this, args);
      } catch (e) {
        this.log.error('AMI event listener threw', {
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
    const socket = net.connect({ host: this.opts.host, port: this.opts.port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    socket.setEncoding('utf8');
    const parser = new AmiParser();
    let resolveClosed: () => void = () => undefined;
    this.closed = new Promise((r) => (resolveClosed = r));
    let lastError = '';
    const connectTimer = setTimeout(() => {
      lastError = 'connect timeout';
      socket.destroy();
    }, this.opts.actionTimeoutMs);

    socket.on('connect', () => {
      clearTimeout(connectTimer);
      void this.login(socket, generation);
    });
    socket.on('data', (chunk: string) => {
      if (generation !== this.generation) return;
      for (const message of parser.push(chunk)) this.dispatch(message);
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      lastError = e.code ?? e.message;
    });
    socket.on('close', () => {
      clearTimeout(connectTimer);
      resolveClosed();
      if (generation !== this.generation) return;
      this.onClosed(lastError || 'connection closed');
    });
  }

  private async login(socket: net.Socket, generation: number): Promise<void> {
    try {
      await this.write(
        socket,
        {
          Action: 'Login',
          Username: this.opts.username,
          Secret: this.opts.secret,
          Events: this.opts.events ? 'on' : 'off',
        },
        this.opts.actionTimeoutMs,
        null,
      );
    } catch (e) {
      // A disconnect during login is handled (and logged) by onClosed.
      if (generation !== this.generation || (e instanceof AmiError && e.code === 'AMI_DISCONNECTED')) return;
      const authFailed = e instanceof AmiError && e.code === 'AMI_ERROR_RESPONSE';
      // Never the secret: only the user name and Asterisk's message.
      this.log.error('AMI login failed', {
        host: this.opts.host,
        port: this.opts.port,
        user: this.opts.username,
        reason: e instanceof Error ? e.message : String(e),
      });
      if (authFailed) this.attempt = Math.max(this.attempt, 4); // a wrong secret will not fix itself quickly
      socket.destroy();
      return;
    }
    if (generation !== this.generation) return;
    this._state = 'connected';
    this.attempt = 0;
    this.log.info('AMI connected', { host: this.opts.host, port: this.opts.port });
    this.startHeartbeat(generation);
    this.safeEmit('connected');
  }

  private dispatch(message: AmiMessage): void {
    const id = message.actionid;
    const entry = id !== undefined ? this.pending.get(id) : undefined;
    if (entry && message.response !== undefined) {
      if (message.response.toLowerCase() === 'error') {
        this.settle(entry);
        const detail = message.output ? `: ${message.output.split('\n')[0]}` : '';
        entry.reject(
          new AmiError(
            'AMI_ERROR_RESPONSE',
            `AMI action ${entry.action} failed: ${message.message ?? 'error'}${detail}`,
            message,
          ),
        );
        return;
      }
      if (entry.list && message.eventlist?.toLowerCase() === 'start') {
        entry.list.response = message;
        return;
      }
      this.settle(entry);
      entry.resolve(message);
      if (entry.list) entry.list.done({ response: message, events: [] });
      return;
    }
    if (entry?.list && message.event !== undefined) {
      const complete = message.eventlist?.toLowerCase() === 'complete';
      if (!complete) {
        entry.list.events.push(message);
        return;
      }
      this.settle(entry);
      const response = entry.list.response ?? message;
      entry.resolve(response);
      entry.list.done({ response, events: entry.list.events });
      return;
    }
    if (message.event !== undefined) {
      this.safeEmit('event', message);
      if (NAMED.has(message.event)) this.safeEmit(message.event as AmiNamedEvent, message);
    }
  }

  private settle(entry: Pending): void {
    clearTimeout(entry.timer);
    this.pending.delete(entry.id);
  }

  private failPending(code: AmiErrorCode, reason: string): void {
    const entries = [...this.pending.values()];
    this.pending.clear();
    for (const entry of entries) {
      clearTimeout(entry.timer);
      entry.reject(new AmiError(code, `AMI action ${entry.action} aborted: ${reason}`));
    }
  }

  private onClosed(reason: string): void {
    const wasConnected = this._state === 'connected';
    this.socket = null;
    this.stopHeartbeat();
    this._state = 'disconnected';
    this.failPending('AMI_DISCONNECTED', reason);
    if (wasConnected) {
      this.log.warn('AMI disconnected', { host: this.opts.host, port: this.opts.port, reason });
    }
    this.safeEmit('disconnected', reason);
    if (this.running) this.scheduleReconnect(reason);
  }

  private scheduleReconnect(reason: string): void {
    const delay = reconnectDelay(this.attempt, this.opts.reconnect);
    this.attempt++;
    this.log.debug('AMI reconnect scheduled', { delayMs: delay, attempt: this.attempt, reason });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }

  private startHeartbeat(generation: number): void {
    this.stopHeartbeat();
    this.heartbeatTimer = setInterval(() => {
      const socket = this.socket;
      if (!socket || generation !== this.generation) return;
      this.action(
        { Action: 'Ping' },
        { timeoutMs: Math.min(this.opts.actionTimeoutMs, this.opts.heartbeatMs) },
      ).catch((e: unknown) => {
        if (e instanceof AmiError && e.code === 'AMI_TIMEOUT' && generation === this.generation) {
          this.log.warn('AMI heartbeat timed out; dropping the connection');
          socket.destroy();
        }
      });
    }, this.opts.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  private clearTimers(): void {
    this.stopHeartbeat();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }
}
