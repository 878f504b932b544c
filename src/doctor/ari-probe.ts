/**
 * One ARI request with the configured user (GET /ari/asterisk/info), told
 * apart the way an admin needs it: nothing listening, a refused login (401),
 * something on that port that is not ARI, or ARI answering.
 */

import type { LoginFailure } from './check';

export type AriProbeOutcome = { kind: 'ok'; version: string } | LoginFailure;

export interface AriTarget {
  /** The ARI base, ending in /ari. */
  baseUrl: string;
  username: string;
  password: string;
  timeoutMs: number;
  fetch?: typeof fetch;
}

/** host:port of a URL, without any user name or password it may carry. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'an invalid address';
  }
}

function causeCode(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur && typeof cur === 'object'; i++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

export async function probeAri(t: AriTarget): Promise<AriProbeOutcome> {
  const where = hostOf(t.baseUrl);
  let url: string;
  try {
    const u = new URL(`${t.baseUrl.replace(/\/+$/, '')}/asterisk/info`);
    u.username = '';
    u.password = '';
    url = u.href;
  } catch {
    return { kind: 'unreachable', detail: 'UURU_ASTERISK_ARI_URL is not a valid http(s) address' };
  }
  let res: Response;
  try {
    res = await (t.fetch ?? fetch)(url, {
      headers: {
        authorization: `Basic ${Buffer.from(`${t.username}:${t.password}`).toString('base64')}`,
        accept: 'application/json',
      },
      redirect: 'manual',
      signal: AbortSignal.timeout(t.timeoutMs),
    });
  } catch (e) {
    const code = causeCode(e);
    if (code === 'ECONNREFUSED')
      return { kind: 'unreachable', detail: `nothing listens at ${where} (connection refused)` };
    if (code === 'ABORT_ERR' || code === '23' || (e as Error).name === 'TimeoutError')
      return { kind: 'unreachable', detail: `no answer from ${where} within ${t.timeoutMs} ms` };
    if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ENOTFOUND' || code === 'EAI_AGAIN')
      return { kind: 'unreachable', detail: `${where} cannot be reached from here (${code})` };
    return {
      kind: 'wrong_port',
      detail: `something at ${where} answered, but not with HTTP (${code ?? (e as Error).message}): that is not ARI`,
    };
  }
  const text = await res.text().catch(() => '');
  if (res.status === 401) {
    return {
      kind: 'login_refused',
      detail: `ARI at ${where} refused the login of user "${t.username}" (HTTP 401)`,
    };
  }
  if (res.status === 200) {
    try {
      const info = JSON.parse(text) as { system?: { version?: unknown } };
      if (typeof info.system?.version === 'string') return { kind: 'ok', version: info.system.version };
    } catch {
      // not JSON: not ARI
    }
  }
  const server = res.headers.get('server');
  return {
    kind: 'wrong_port',
    detail: `${where} answers HTTP ${res.status}${server ? ` (server "${server.slice(0, 40)}")` : ''} to ${new URL(url).pathname}, which ARI would answer with its version: that is not ARI, or ARI is not enabled`,
  };
}
