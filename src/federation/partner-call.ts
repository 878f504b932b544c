import type { Dialect } from '../core/records';

/** One HTTP call to a partner, as stored in the outbox and sent by the transport. */
export interface PartnerCall {
  dialect: Dialect;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  body: Record<string, unknown> | null;
}

export function trimBase(url: string): string {
  return url.replace(/\/+$/, '');
}

/** The authority (host[:port], default port dropped, lower case) of a web address: a partner's server name. */
export function authorityOf(url: string): string {
  return new URL(url).host.toLowerCase();
}
