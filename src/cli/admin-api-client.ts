import type { Config } from '../config/schema';
import { errorMessage } from '../core/errors';
import { DESCRIPTOR_PATH } from '../federation/descriptor';
import { CliError, EXIT_FAILED, EXIT_USAGE } from './exit-codes';

/** The CLI's view of a running instance: its admin API over HTTP with a bearer token. */
export class AdminApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  async request<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const url = `${this.baseUrl}/api/admin${path}`;
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        method,
        headers: {
          Authorization: `Bearer ${this.token}`,
          Accept: 'application/json',
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(120_000),
      });
    } catch (e) {
      throw new CliError(
        `cannot reach the admin API at ${this.baseUrl}: ${errorMessage(e)}`,
        EXIT_FAILED,
        'UNREACHABLE',
      );
    }
    const text = await res.text();
    let parsed: unknown = undefined;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new CliError(`the admin API answered ${res.status} with a body that is not JSON`, EXIT_FAILED);
      }
    }
    if (!res.ok) {
      const err = (parsed ?? {}) as { error?: unknown; message?: unknown };
      const code = typeof err.error === 'string' ? err.error : `HTTP_${res.status}`;
      const message = typeof err.message === 'string' ? err.message : res.statusText;
      const hint = res.status === 404 && code === 'NOT_FOUND' ? await this.federationListenerHint() : '';
      throw new CliError(`${code}: ${message}${hint}`, EXIT_FAILED, code);
    }
    return parsed as T;
  }

  /**
   * The admin API is on its own listener (UURU_ADMIN_LISTEN); the federation
   * listener answers NOT_FOUND under /api/admin. When it serves our
   * descriptor, --url names the federation listener: say so.
   */
  private async federationListenerHint(): Promise<string> {
    try {
      const res = await this.fetchImpl(`${this.baseUrl}${DESCRIPTOR_PATH}`, {
        headers: { Accept: 'application/json' },
        signal: AbortSignal.timeout(5000),
      });
      const body = (await res.json()) as unknown;
      if (!res.ok || typeof body !== 'object' || body === null || !('signing_keys' in body)) return '';
    } catch {
      return '';
    }
    return (
      `\nhint: ${this.baseUrl} is a federation listener (it serves ${DESCRIPTOR_PATH}), not the admin API.` +
      ' Point --url or UURU_ADMIN_URL at the admin listener (UURU_ADMIN_LISTEN, default http://127.0.0.1:8091).'
    );
  }
}

/** Where the admin API listens, as seen from this host: --url, UURU_ADMIN_URL, or the configured admin listener. */
export function defaultAdminUrl(config: Config): string {
  if (config.cli.adminUrl) return config.cli.adminUrl.replace(/\/+$/, '');
  const listen = config.http.admin === 'same' ? config.http.federation : config.http.admin;
  let host = listen.host;
  if (host === '0.0.0.0' || host === '') host = '127.0.0.1';
  else if (host === '::') host = '::1';
  if (host.includes(':')) host = `[${host}]`;
  return `http://${host}:${listen.port}`;
}

export function clientFor(config: Config, opts: { url?: string; token?: string }): AdminApiClient {
  const token = opts.token ?? config.cli.adminToken ?? config.admin.bootstrapToken;
  if (!token) {
    throw new CliError(
      'no API token: pass --token, or set UURU_ADMIN_TOKEN (create one with "npx uuru-fed token create <name>")',
      EXIT_USAGE,
    );
  }
  let url = opts.url ?? defaultAdminUrl(config);
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
    url = url.replace(/\/+$/, '');
  } catch {
    throw new CliError(`--url must be an http(s) address, got ${JSON.stringify(url)}`, EXIT_USAGE);
  }
  return new AdminApiClient(url, token);
}
