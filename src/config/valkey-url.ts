/**
 * The optional Valkey/Redis server of replicas (config.ha.valkeyUrl,
 * UURU_HA_VALKEY_URL): redis://[[user]:password@]host[:port][/db], or
 * rediss:// for TLS. Its password is never shown: problems describe the URL's
 * form, not its text, and logs name the server by valkeyAddress.
 */

/** The stable code of a bad Valkey URL (src/core/error-catalogue.ts; src/config imports nothing else). */
export const CONFIG_VALKEY_URL = 'CONFIG_VALKEY_URL';

const FORM = 'expected redis://[[user]:password@]host[:port][/database number] (rediss:// for TLS)';

/** What is wrong with a Valkey URL, without its text; null when it is usable. */
export function valkeyUrlProblem(value: string): string | null {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return `${CONFIG_VALKEY_URL}: not a URL; ${FORM}`;
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    return `${CONFIG_VALKEY_URL}: the scheme must be redis: or rediss:; ${FORM}`;
  if (u.hostname === '') return `${CONFIG_VALKEY_URL}: no host; ${FORM}`;
  if (u.pathname !== '' && u.pathname !== '/' && !/^\/(0|[1-9][0-9]{0,4})$/.test(u.pathname))
    return `${CONFIG_VALKEY_URL}: the path must be a database number such as /0; ${FORM}`;
  if (u.search !== '' || u.hash !== '') return `${CONFIG_VALKEY_URL}: no query or fragment is read; ${FORM}`;
  return null;
}

/** host:port/db of a Valkey URL, without user name or password: how logs and the status name the server. */
export function valkeyAddress(value: string): string {
  try {
    const u = new URL(value);
    const db = /^\/[0-9]+$/.test(u.pathname) ? u.pathname : '/0';
    return `${u.protocol}//${u.hostname}:${u.port || '6379'}${db}`;
  } catch {
    return '(invalid Valkey URL)';
  }
}
