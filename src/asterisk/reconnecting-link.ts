/**
 * The lifecycle both Asterisk links share (the AMI socket and the ARI
 * WebSocket): connect and log in, keep the state and say why it is not
 * connected, reconnect with the one backoff formula (src/jobs/backoff.ts),
 * report state changes as events, stop. The clients (ami-client.ts,
 * ari-client.ts) keep only their protocol: how to open one session and how
 * to tell a refused login from a wrong port.
 *
 * Logging: a failure is logged once when it starts (error for a refused
 * login, which needs an admin; warn otherwise) and once, at info, when the
 * link is connected again; the retries in between are logged at debug only.
 * A different failure while down (Asterisk came back with another password)
 * is a new failure and is logged once too.
 */
import { EventEmitter } from 'node:events';
import type { AsteriskLinkFailure, AsteriskLinkState } from '../core/asterisk-port';
import { exponentialBackoff } from '../jobs/backoff';
import type { Logger } from '../logging/logger';

export type LinkState = AsteriskLinkState;
export type LinkFailureKind = AsteriskLinkFailure;

/** What a link says about itself: the state, why (for a failure or a loss) and since when (epoch ms). */
export interface LinkStatus {
  state: LinkState;
  detail: string | null;
  since: number;
}

/** An error of a link's protocol (AmiError, AriError): a stable code and a message without secrets. */
export class LinkError<C extends string> extends Error {
  readonly code: C;

  constructor(name: string, code: C, message: string) {
    super(message);
    this.name = name;
    this.code = code;
  }
}

/** Why one attempt to open a session failed; the detail never holds a secret. */
export class LinkFailure extends Error {
  readonly kind: LinkFailureKind;

  constructor(kind: LinkFailureKind, detail: string) {
    super(detail);
    this.name = 'LinkFailure';
    this.kind = kind;
  }
}

/** One established, logged-in connection. */
export interface LinkSession {
  /** Closes the connection (politely if it can); resolves once it is closed. */
  close(): Promise<void>;
}

/**
 * The session over one transport: close() asks it to end (`end`), forces it
 * (`destroy`) if it has not closed within half a second, and resolves once
 * the transport reported closed (call `closed()` from its close handler).
 */
export function transportSession(end: () => void, destroy: () => void): LinkSession & { closed(): void } {
  let markClosed: () => void = () => undefined;
  const done = new Promise<void>((r) => (markClosed = r));
  return {
    closed: () => markClosed(),
    close: async () => {
      end();
      const timer = setTimeout(destroy, 500);
      await done;
      clearTimeout(timer);
    },
  };
}

export interface OpenContext {
  /** Aborted when the link stops while this attempt is under way: close and reject. */
  signal: AbortSignal;
  /** To be called once when an established session is lost (ignored before the session was handed over). */
  lost(reason: string): void;
}

export type LinkEvents = {
  /** After every successful login. */
  connected: [];
  /** When an established connection is lost. */
  disconnected: [reason: string];
  /** Every change of state (with the new status). */
  state: [LinkStatus];
};

/** Backoff of the reconnects: doubling from initialMs up to maxMs. */
export interface ReconnectBackoff {
  initialMs: number;
  maxMs: number;
}

/** ±25 %, so that many sidecars restarted together do not reconnect in step. */
const RECONNECT_JITTER = [0.75, 1.25] as const;

/** Delay before reconnect attempt `attempt` (0-based): the one formula of src/jobs/backoff.ts, with jitter. */
export function reconnectDelay(
  attempt: number,
  b: ReconnectBackoff,
  random: () => number = Math.random,
): number {
  return exponentialBackoff(attempt, { ...b, jitter: RECONNECT_JITTER }, random);
}

/** A wrong password will not fix itself within a second: retries after a refused login start at this attempt. */
const REFUSED_LOGIN_MIN_ATTEMPT = 4;

/**
 * A transport error code as a failure: an HTTP parse error (HPE_*) means
 * something answered that does not speak HTTP (a wrong port); any other
 * (ECONNREFUSED, EHOSTUNREACH, ETIMEDOUT, ENOTFOUND ...) that nothing usable
 * answered at that address.
 */
export function transportFailure(code: string, where: string): LinkFailure {
  if (code.startsWith('HPE_')) {
    return new LinkFailure('wrong_port', `${where} answers, but not in HTTP (${code})`);
  }
  const what = code === 'ECONNREFUSED' ? 'connection refused' : code;
  return new LinkFailure('unreachable', `${where}: ${what}`);
}

const FAILURE_TEXT: Record<LinkFailureKind, string> = {
  unreachable: 'Asterisk unreachable',
  wrong_port: 'wrong port: something answers there, but not Asterisk',
  login_refused: 'login refused',
};

export interface ReconnectingLinkOptions {
  /** 'AMI', 'ARI': the start of every log line. */
  name: string;
  /** Where it connects to, for logs and details (host:port or the URL; never a credential). */
  where: string;
  logger: Logger;
  reconnect: ReconnectBackoff;
  /**
   * false: failures and recoveries are logged at debug only, for a second
   * session to the same place whose failures the first one already reports.
   */
  reportFailures?: boolean;
}

export abstract class ReconnectingLink<E extends Record<keyof E, unknown[]>> extends EventEmitter<
  E & LinkEvents
> {
  protected readonly log: Logger;
  private readonly linkName: string;
  private readonly where: string;
  private readonly reconnect: ReconnectBackoff;
  private readonly reportFailures: boolean;
  private running = false;
  private generation = 0;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private abort: AbortController | null = null;
  private opening: Promise<void> | null = null;
  private session: LinkSession | null = null;
  private current: LinkStatus = { state: 'disconnected', detail: null, since: Date.now() };
  /** The failure under way since the link was last connected (null while connected). */
  private outage: {
    since: number;
    kind: LinkFailureKind | null;
    attempts: number;
    lost: string | null;
  } | null = null;

  protected constructor(opts: ReconnectingLinkOptions) {
    super();
    this.linkName = opts.name;
    this.where = opts.where;
    this.log = opts.logger;
    this.reconnect = opts.reconnect;
    this.reportFailures = opts.reportFailures ?? true;
  }

  /**
   * Opens one connection and logs in. Resolves with the session once it can
   * be used; rejects (after closing what it opened) with a LinkFailure, or
   * any other error, read as Asterisk unreachable. Calls ctx.lost once if the
   * session is lost after it was handed over.
   */
  protected abstract openSession(ctx: OpenContext): Promise<LinkSession>;

  /** The protocol's own error for whenConnected() running out of time. */
  protected abstract notConnectedError(message: string): Error;

  get state(): LinkState {
    return this.current.state;
  }

  /** The state with its reason and since when. */
  get status(): LinkStatus {
    return { ...this.current };
  }

  /** A number that changes with every connection attempt: lets a client drop answers of a previous session. */
  protected get sessionGeneration(): number {
    return this.generation;
  }

  /** Connects and logs in; on any loss reconnects with backoff until stop(). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.setState('connecting', null);
    this.connect();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.generation++;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.abort?.abort();
    this.abort = null;
    const session = this.session;
    this.session = null;
    await session?.close();
    await this.opening;
    this.opening = null;
    this.outage = null;
    this.attempt = 0;
    this.setState('disconnected', null);
  }

  /** Resolves once logged in (at once if already); rejects with the protocol's timeout error after timeoutMs. */
  whenConnected(timeoutMs = 30_000): Promise<void> {
    if (this.current.state === 'connected') return Promise.resolve();
    const self = this as unknown as EventEmitter;
    return new Promise((resolve, reject) => {
      const onConnected = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        self.off('connected', onConnected);
        reject(this.notConnectedError(`${this.linkName} not connected within ${timeoutMs} ms`));
      }, timeoutMs);
      self.once('connected', onConnected);
    });
  }

  /**
   * Calls each listener on its own, containing its exceptions: a throwing
   * listener must neither starve the others nor break the socket handling
   * (or crash the process from a socket callback).
   */
  protected safeEmit<K extends keyof E & string>(event: K, ...args: E[K]): void {
    this.emitContained(event, args);
  }

  private emitLink<K extends keyof LinkEvents>(event: K, ...args: LinkEvents[K]): void {
    this.emitContained(event, args);
  }

  private emitContained(event: string, args: unknown[]): void {
    const self = this as unknown as EventEmitter;
    for (const listener of self.rawListeners(event)) {
      try {
        (listener as (...a: unknown[]) => unknown).apply(this, args);
      } catch (e) {
        this.log.error(`${this.linkName} event listener threw`, {
          event,
          reason: e instanceof Error ? e.message : String(e),
        });
      }
    }
  }

  private setState(state: LinkState, detail: string | null): void {
    const changed = state !== this.current.state;
    this.current = { state, detail, since: changed ? Date.now() : this.current.since };
    if (changed) this.emitLink('state', { ...this.current });
  }

  private connect(): void {
    if (!this.running) return;
    const generation = ++this.generation;
    const abort = new AbortController();
    this.abort = abort;
    let handedOver = false;
    const lost = (reason: string) => {
      if (!handedOver || generation !== this.generation) return;
      this.session = null;
      this.onLost(reason);
    };
    this.opening = this.openSession({ signal: abort.signal, lost }).then(
      async (session) => {
        if (generation !== this.generation) {
          await session.close();
          return;
        }
        handedOver = true;
        this.session = session;
        this.onConnected();
      },
      (e: unknown) => {
        if (generation !== this.generation) return;
        this.onFailed(
          e instanceof LinkFailure
            ? e
            : new LinkFailure('unreachable', e instanceof Error ? e.message : String(e)),
        );
      },
    );
  }

  private onConnected(): void {
    const outage = this.outage;
    this.outage = null;
    this.attempt = 0;
    this.setState('connected', null);
    const info = this.reportFailures ? this.log.info.bind(this.log) : this.log.debug.bind(this.log);
    if (outage) {
      info(`${this.linkName} connected`, {
        where: this.where,
        recoveredFrom: outage.kind ?? 'connection lost',
        downForMs: Date.now() - outage.since,
        attempts: outage.attempts,
        ...(outage.lost ? { lostBecause: outage.lost } : {}),
      });
    } else {
      info(`${this.linkName} connected`, { where: this.where });
    }
    this.emitLink('connected');
  }

  private onLost(reason: string): void {
    // Not logged here: the next attempt either connects (one info line) or fails (one warn line).
    this.outage = { since: Date.now(), kind: null, attempts: 0, lost: reason };
    this.setState('connecting', `connection lost: ${reason}`);
    this.emitLink('disconnected', reason);
    this.scheduleReconnect(reason);
  }

  private onFailed(failure: LinkFailure): void {
    this.outage ??= { since: Date.now(), kind: null, attempts: 0, lost: null };
    this.outage.attempts++;
    if (this.outage.kind !== failure.kind) {
      this.outage.kind = failure.kind;
      const fields = {
        where: this.where,
        state: failure.kind,
        detail: failure.message,
        retrying: 'in the background, with backoff; logged again when it changes or ends',
      };
      const message = `${this.linkName}: ${FAILURE_TEXT[failure.kind]}`;
      if (!this.reportFailures) this.log.debug(message, fields);
      else if (failure.kind === 'login_refused') this.log.error(message, fields);
      else this.log.warn(message, fields);
    }
    if (failure.kind === 'login_refused') this.attempt = Math.max(this.attempt, REFUSED_LOGIN_MIN_ATTEMPT);
    this.setState(failure.kind, failure.message);
    this.scheduleReconnect(failure.message);
  }

  private scheduleReconnect(reason: string): void {
    if (!this.running) return;
    const delay = reconnectDelay(this.attempt, this.reconnect);
    this.attempt++;
    this.log.debug(`${this.linkName} reconnect scheduled`, { delayMs: delay, attempt: this.attempt, reason });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }
}
