import type { ErrorCode } from '../core/error-catalogue';
import type { AdminApiClient } from './admin-api-client';
import type { IncomingRequestView, OutgoingRequestView, PeerView } from './api-types';
import { CliError, EXIT_FAILED } from './exit-codes';

/**
 * Commands take a thing by id or by name, as an admin sees it in a list. The
 * id wins; a name shared by several things is refused with their ids
 * (CLI_AMBIGUOUS_NAME) rather than guessed.
 */
export function pick<T extends { id: string }>(
  items: T[],
  ref: string,
  names: (t: T) => string[],
  notFound: { code: ErrorCode; what: string; list: string },
  prefer: (t: T) => boolean = () => true,
): T {
  const byId = items.find((t) => t.id === ref);
  if (byId) return byId;
  let named = items.filter((t) => names(t).includes(ref));
  if (named.length > 1 && named.some(prefer)) named = named.filter(prefer);
  if (named.length === 1) return named[0];
  if (named.length > 1)
    throw new CliError(
      `CLI_AMBIGUOUS_NAME: ${named.length} ${notFound.what}s are named '${ref}'; give the id: ${named.map((t) => t.id).join(', ')}`,
      EXIT_FAILED,
      'CLI_AMBIGUOUS_NAME',
    );
  throw new CliError(
    `${notFound.code}: no ${notFound.what} with id or name '${ref}' (see "uuru-fed ${notFound.list}")`,
    EXIT_FAILED,
    notFound.code,
  );
}

export async function resolvePeer(client: AdminApiClient, ref: string): Promise<PeerView> {
  const r = await client.request<{ peers: PeerView[] }>('GET', '/federation/peers');
  // A Unicode v1 name is also known by its ASCII name in Asterisk's dial plan.
  return pick(r.peers, ref, (p) => [p.name, p.asterisk_name], {
    code: 'FED_UNKNOWN_PEER',
    what: 'peer',
    list: 'peers list',
  });
}

export async function resolveIncoming(client: AdminApiClient, ref: string): Promise<IncomingRequestView> {
  const r = await client.request<{ requests: IncomingRequestView[] }>('GET', '/federation/incoming-requests');
  return pick(
    r.requests,
    ref,
    (x) => [x.name, x.asterisk_name, x.request_id],
    { code: 'FED_UNKNOWN_REQUEST', what: 'incoming request', list: 'requests list' },
    (x) => x.state === 'pending',
  );
}

export async function resolveOutgoing(client: AdminApiClient, ref: string): Promise<OutgoingRequestView> {
  const r = await client.request<{ requests: OutgoingRequestView[] }>('GET', '/federation/outgoing-requests');
  return pick(
    r.requests,
    ref,
    (x) => [x.name, x.asterisk_name],
    { code: 'FED_UNKNOWN_REQUEST', what: 'outgoing request', list: 'requests list' },
    (x) => x.state === 'pending',
  );
}
