import { describeHost } from '../core/network-address';

/**
 * The reason a call to a partner failed, fit for an error message, a
 * last_error field or a log line. fetch's own messages can quote the whole
 * URL ("Request cannot be constructed from a URL that includes credentials:
 * http://user:pass@..."), and a v1 call carries the shared secret in its
 * query string, so the network error code is preferred and any URL left in
 * the text is cut down to its host.
 */
export function describeFetchFailure(e: unknown): string {
  // Duck-typed rather than instanceof: fetch's errors may come from another realm.
  const err = asErrorLike(e);
  if (!err) return withoutUrls(String(e));
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'timed out';
  const cause = asErrorLike(err.cause);
  if (cause && typeof cause.code === 'string') return cause.code;
  // undici's "fetch failed" says nothing; its cause does ("bad port", "getaddrinfo ENOTFOUND ...").
  const detail = cause ? ` (${withoutUrls(cause.message)})` : '';
  return `${withoutUrls(err.message)}${detail}`;
}

/** Replaces every URL in a text by its host[:port]. */
export function withoutUrls(text: string): string {
  return text.replace(/[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s"'<>()]*/g, (url) => describeHost(url));
}

interface ErrorLike {
  name: string;
  message: string;
  code?: unknown;
  cause?: unknown;
}

function asErrorLike(e: unknown): ErrorLike | null {
  if (typeof e !== 'object' || e === null) return null;
  const x = e as Partial<ErrorLike>;
  return typeof x.message === 'string'
    ? { name: String(x.name ?? ''), message: x.message, code: x.code, cause: x.cause }
    : null;
}
