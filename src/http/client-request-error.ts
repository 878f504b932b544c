import { isAppError } from '../core/errors';

/**
 * Errors express and body-parser raise before any handler runs, when the
 * request itself is broken: a path parameter that is not valid
 * percent-encoding (express's router throws a URIError with status 400 and no
 * type), a body too large, not JSON, in an unsupported charset or encoding,
 * or cut off. Each surface turns the fault into its own error shape; none of
 * them is a 500.
 *
 * The messages are fixed texts: the library's own ones quote the raw
 * parameter or header, which is the caller's (possibly hostile) input.
 */

export type ClientRequestFault =
  'malformed_path' | 'too_large' | 'not_json' | 'unsupported_encoding' | 'incomplete_body' | 'bad_request';

export interface ClientRequestError {
  fault: ClientRequestFault;
  /** The 4xx status the library gave the error. */
  status: number;
  message: string;
}

const BY_TYPE: Record<string, { fault: ClientRequestFault; message: string }> = {
  'entity.too.large': { fault: 'too_large', message: 'request body is too large' },
  'entity.parse.failed': { fault: 'not_json', message: 'request body is not valid JSON' },
  'charset.unsupported': { fault: 'unsupported_encoding', message: 'the request body must be UTF-8' },
  'encoding.unsupported': {
    fault: 'unsupported_encoding',
    message: 'the request body has an unsupported Content-Encoding',
  },
  'request.aborted': { fault: 'incomplete_body', message: 'the request body was cut off' },
  'request.size.invalid': {
    fault: 'incomplete_body',
    message: 'the request body does not match its Content-Length',
  },
};

/** The client's fault behind a library error, or null when the error is not one (then it is ours). */
export function clientRequestError(err: unknown): ClientRequestError | null {
  if (typeof err !== 'object' || err === null || isAppError(err)) return null;
  const e = err as { status?: unknown; statusCode?: unknown; type?: unknown };
  const status = typeof e.status === 'number' ? e.status : e.statusCode;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status > 499) return null;
  if (err instanceof URIError) {
    return { fault: 'malformed_path', status, message: 'a path parameter is not valid percent-encoding' };
  }
  const known = typeof e.type === 'string' && Object.hasOwn(BY_TYPE, e.type) ? BY_TYPE[e.type] : undefined;
  if (known) return { ...known, status };
  return { fault: 'bad_request', status, message: 'the request cannot be read' };
}
