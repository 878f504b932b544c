import Redis from 'ioredis';
import { valkeyAddress } from '../../config/valkey-url';
import { AppError } from '../../core/errors';
import type { Logger } from '../../logging/logger';

/** Every key of this sidecar starts with it; one Valkey database (the URL's /N) per instance. */
export const KEY_PREFIX = 'uuru-fed:';

/**
 * The connection to the replicas' Valkey (or Redis) server, config.ha.valkeyUrl.
 * ioredis, set to fail fast rather than wait: while the server is unreachable a
 * command is refused at once (no offline queue) or after COMMAND_TIMEOUT_MS,
 * and the client reconnects in the background (at most every RECONNECT_MAX_MS).
 * A request never hangs on it; what each store does with the refusal is its own
 * (sessions: VALKEY_UNAVAILABLE; rate limits: counted in memory meanwhile).
 * The URL's password is never logged: the server is named by valkeyAddress.
 */
const CONNECT_TIMEOUT_MS = 3000;
const COMMAND_TIMEOUT_MS = 2000;
const RECONNECT_MAX_MS = 2000;

export class ValkeyConnection {
  readonly client: Redis;
  /** host:port/db, for logs and the status. */
  readonly address: string;
  private down = false;
  /** Set by close(): the connection it ends is no outage. */
  private closing = false;

  constructor(url: string, logger: Logger) {
    this.address = valkeyAddress(url);
    this.client = new Redis(url, {
      connectionName: 'uuru-federation',
      connectTimeout: CONNECT_TIMEOUT_MS,
      commandTimeout: COMMAND_TIMEOUT_MS,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(100 * times, RECONNECT_MAX_MS),
    });
    // One warning per outage, one info when it is back (ioredis emits an error per failed reconnect).
    // A server that shuts down closes the connection without an error: that is an outage too, and a
    // reconnect that succeeds before any error would otherwise leave it unlogged.
    const lost = (reason: string): void => {
      if (this.down || this.closing) return;
      this.down = true;
      logger.warn('Valkey unreachable: panel sessions are refused, the rate limits count per replica', {
        component: 'valkey',
        server: this.address,
        error: reason,
      });
    };
    this.client.on('error', (e: Error) => lost(e.message));
    this.client.on('close', () => lost('connection closed'));
    this.client.on('ready', () => {
      if (!this.down) return;
      this.down = false;
      logger.info('Valkey reachable again', { component: 'valkey', server: this.address });
    });
  }

  /** up when the server answers PING now. */
  async status(): Promise<'up' | 'down'> {
    if (this.client.status !== 'ready') return 'down';
    try {
      return (await this.client.ping()) === 'PONG' ? 'up' : 'down';
    } catch {
      return 'down';
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}

/** Runs a Valkey call; a refused or failed one becomes VALKEY_UNAVAILABLE (503), never a pass. */
export async function orUnavailable<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw new AppError(
      'VALKEY_UNAVAILABLE',
      `the Valkey server that keeps the ${what} does not answer; retry once it is back`,
      { headers: { 'Retry-After': '5' }, cause: e },
    );
  }
}
