/**
 * Asterisk Manager Interface client: one TCP connection, promise per action,
 * list actions collected by ActionID, heartbeat. Connecting, reconnecting and
 * the link state are the shared lifecycle of reconnecting-link.ts; this file
 * says how one AMI session opens (greeting, Login) and why one failed.
 *
 * Written over net.Socket rather than wrapping the `asterisk-manager`
 * package: that package hands an action's callback only the first reply (no
 * list collection), has no action timeout, never settles callbacks pending at
 * a disconnect, reconnects on a fixed 10 s ladder while writing to
 * console.log, and turns repeated headers (Command's `Output:` lines) into
 * arrays. A wrapper would have had to bypass nearly all of it; the wire format
 * itself is small (see ami-protocol.ts).
 */
import net from 'node:net';
import type { Logger } from '../logging/logger';
import { type Backoff, exponentialBackoff } from '../jobs/backoff';
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
import { type AmiMessage, AmiParser, serializeAction } from './ami-protocol';
import { parseIaxPeerEntry, type IaxPeerEntry } from './ami-iax-peers';

export type { AmiMessage } from './ami-protocol';
export type { IaxPeerEntry } from './ami-iax-peers';

export type AmiErrorCode = 'AMI_TIMEOUT' | 'AMI_DISCONNECTED' | 'AMI_ERROR_RESPONSE' | 'AMI_NOT_CONNECTED';

export class AmiError extends LinkError<AmiErrorCode> {
  readonly response?: AmiMessage;

  constructor(code: AmiErrorCode, message: string, response?: AmiMessage) {
    super('AmiError', code, message);
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
  /** false: log failures and recoveries at debug (a second session whose failures the first reports). */
  reportFailures?: boolean;
}

export type AmiConnectionState = LinkState;

/** A module reload refused because another one runs: 100 ms doubling up to 2 s, no jitter. */
export const RELOAD_RETRY: Backoff = { initialMs: 100, maxMs: 2000 };

/** The line Asterisk greets every AMI connection with. */
const GREETING = 'Asterisk Call Manager/';

/** Events with their own emit besides 'event'. */
export const AMI_NAMED_EVENTS = [
  'PeerStatus',
  'Reload',
  'FullyBooted',
  'Shutdown',
  'OriginateResponse',
] as const;
export type AmiNamedEvent = (typeof AMI_NAMED_EVENTS)[number];

/** Besides the link's own (connected, disconnected, state: see reconnecting-link.ts). */
export type AmiClientEvents = {
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

export class AmiClient extends ReconnectingLink<AmiClientEvents> {
  private readonly opts: Required<Omit<AmiClientOptions, 'logger' | 'component' | 'reportFailures'>>;
  private socket: net.Socket | null = null;
  private readonly pending = new Map<string, Pending>();
  private nextId = 1;
  private readonly idPrefix = `uuru-${process.pid}-${Math.floor(Math.random() * 1e6).toString(36)}`;
  private heartbeatTimer: NodeJS.Timeout | null = null;

  constructor(opts: AmiClientOptions) {
    const reconnect = opts.reconnect ?? { initialMs: 500, maxMs: 30_000 };
    super({
      name: 'AMI',
      where: `${opts.host}:${opts.port}`,
      logger: opts.logger.child({ component: opts.component ?? 'ami' }),
      reconnect,
      reportFailures: opts.reportFailures,
    });
    this.opts = {
      host: opts.host,
      port: opts.port,
      username: opts.username,
      secret: opts.secret,
      actionTimeoutMs: opts.actionTimeoutMs ?? 10_000,
      heartbeatMs: opts.heartbeatMs ?? 15_000,
      reconnect,
      events: opts.events ?? true,
    };
  }

  protected notConnectedError(message: string): Error {
    return new AmiError('AMI_TIMEOUT', message);
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
    if (!socket || this.state !== 'connected') {
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

  /**
   * Opens one AMI session: TCP connect, Asterisk's greeting, Login. Why it
   * failed: nothing answered (unreachable); a connection opened but the
   * greeting did not come, or something else came (wrong port); Asterisk
   * answered the Login with an error (login refused).
   */
  protected openSession(ctx: OpenContext): Promise<LinkSession> {
    const where = `${this.opts.host}:${this.opts.port}`;
    const socket = net.connect({ host: this.opts.host, port: this.opts.port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    socket.setEncoding('utf8');
    const parser = new AmiParser();
    let connected = false;
    let head = '';
    let greeted = false;
    let loggedIn = false;
    let failure: LinkFailure | null = null;
    let lastError = '';
    const fail = (f: LinkFailure) => {
      failure ??= f;
      socket.destroy();
    };
    const timeoutMs = this.opts.actionTimeoutMs;
    const openTimer = setTimeout(() => {
      fail(
        connected
          ? new LinkFailure(
              'wrong_port',
              `${where} accepts connections but sends no AMI greeting within ${timeoutMs} ms (another service's port, or a hung Asterisk)`,
            )
          : new LinkFailure('unreachable', `${where}: no answer within ${timeoutMs} ms`),
      );
    }, timeoutMs);
    const onAbort = () => fail(new LinkFailure('unreachable', 'stopped'));
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    const session = transportSession(
      () => {
        // Best effort: a clean Logoff keeps Asterisk's log free of "lost connection" noise.
        if (loggedIn && !socket.destroyed) {
          socket.write(serializeAction({ Action: 'Logoff', ActionID: this.newId() }));
        }
        socket.end();
      },
      () => socket.destroy(),
    );

    return new Promise<LinkSession>((resolve, reject) => {
      socket.on('connect', () => {
        connected = true;
      });
      socket.on('data', (chunk: string) => {
        if (failure) return;
        if (!greeted) {
          head += chunk;
          const eol = head.search(/\r?\n/);
          const fits = head.length < GREETING.length ? GREETING.startsWith(head) : head.startsWith(GREETING);
          if (!fits) {
            const said = JSON.stringify(head.slice(0, Math.min(eol < 0 ? 40 : eol, 40)));
            fail(new LinkFailure('wrong_port', `${where} answers ${said}, not the AMI greeting`));
            return;
          }
          if (eol < 0) return;
          greeted = true;
          // The login has its own timeout from here.
          clearTimeout(openTimer);
          void this.login(socket, where).then((outcome) => {
            ctx.signal.removeEventListener('abort', onAbort);
            if (outcome instanceof LinkFailure) fail(outcome);
            if (outcome !== 'ok' || failure || socket.destroyed) return;
            loggedIn = true;
            this.startHeartbeat(socket);
            resolve(session);
          });
          chunk = head;
        }
        for (const message of parser.push(chunk)) this.dispatch(message);
      });
      socket.on('error', (e: NodeJS.ErrnoException) => {
        lastError = e.code ?? e.message;
      });
      socket.on('close', () => {
        clearTimeout(openTimer);
        ctx.signal.removeEventListener('abort', onAbort);
        const reason = lastError || 'connection closed';
        if (this.socket === socket) {
          this.socket = null;
          this.stopHeartbeat();
          this.failPending('AMI_DISCONNECTED', reason);
        }
        session.closed();
        if (loggedIn) {
          ctx.lost(reason);
          return;
        }
        reject(
          failure ??
            (lastError
              ? transportFailure(lastError, where)
              : new LinkFailure(
                  'unreachable',
                  greeted
                    ? `${where} closed the connection during the login`
                    : `${where} closed the connection without a greeting`,
                )),
        );
      });
    });
  }

  /** Logs in on a greeted socket: 'ok', 'closed' (the socket closed meanwhile) or the failure to report. */
  private async login(socket: net.Socket, where: string): Promise<'ok' | 'closed' | LinkFailure> {
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
      return 'ok';
    } catch (e) {
      if (e instanceof AmiError && e.code === 'AMI_DISCONNECTED') return 'closed';
      // Never the secret: only the user name and Asterisk's message.
      if (e instanceof AmiError && e.code === 'AMI_ERROR_RESPONSE') {
        return new LinkFailure(
          'login_refused',
          `Asterisk at ${where} refused the login of user '${this.opts.username}': ${e.response?.message ?? 'error'}`,
        );
      }
      return new LinkFailure(
        'unreachable',
        `${where} greeted but did not answer the login: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }

  private startHeartbeat(socket: net.Socket): void {
    this.stopHeartbeat();
    this.heartbeatTimer = setInterval(() => {
      if (socket !== this.socket) return;
      this.action(
        { Action: 'Ping' },
        { timeoutMs: Math.min(this.opts.actionTimeoutMs, this.opts.heartbeatMs) },
      ).catch((e: unknown) => {
        if (e instanceof AmiError && e.code === 'AMI_TIMEOUT' && socket === this.socket) {
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
}
