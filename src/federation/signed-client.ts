import type { Clock } from '../core/clock';
import { AppError } from '../core/errors';
import type { Logger } from '../logging/logger';
import { MAX_PARTNER_ANSWER_BYTES, readLimited } from './bounded-body';
import { describeFetchFailure } from './fetch-failure';
import { signRequest } from './http-signature';
import type { LocalKeys } from './local-keys';

/**
 * Outgoing uuru-fed/2 calls: JSON body, signed with our active key. Network
 * failures and timeouts become FED_PARTNER_UNREACHABLE (502, operational) so callers
 * (the outbox) retry them; any HTTP answer is returned as it is. Redirects
 * are not followed: the signature binds the exact target URI.
 */
export class SignedClient {
  constructor(
    private readonly deps: {
      localKeys: LocalKeys;
      clock: Clock;
      fetch: typeof fetch;
      timeoutMs: number;
      logger: Logger;
    },
  ) {}

  async send(p: {
    method: string;
    url: string;
    body?: unknown;
  }): Promise<{ status: number; json: unknown; headers: Headers }> {
    let url: string;
    try {
      url = new URL(p.url).href;
    } catch {
      throw new AppError('FED_MALFORMED', 'the partner address is not a valid URL');
    }
    const method = p.method.toUpperCase();
    const body = p.body === undefined ? undefined : Buffer.from(JSON.stringify(p.body), 'utf8');
    const key = await this.deps.localKeys.signingKey();
    const headers = signRequest({ method, url, body, key, now: this.deps.clock.now() });
    let res: Response;
    let text: string;
    try {
      res = await this.deps.fetch(url, {
        method,
        headers: { ...headers, accept: 'application/json' },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.deps.timeoutMs),
      });
      text = await readLimited(res, MAX_PARTNER_ANSWER_BYTES);
    } catch (e) {
      const target = new URL(url);
      this.deps.logger.warn('signed call failed', {
        component: 'signed-client',
        method,
        target: target.origin,
        error: describeFetchFailure(e),
      });
      throw new AppError(
        'FED_PARTNER_UNREACHABLE',
        `${target.origin} could not be reached: ${describeFetchFailure(e)}`,
        { cause: e },
      );
    }
    let json: unknown = null;
    if (text.length > 0) {
      try {
        json = JSON.parse(text) as unknown;
      } catch {
        json = null;
      }
    }
    return { status: res.status, json, headers: res.headers };
  }
}
