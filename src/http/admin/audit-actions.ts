import type { Request } from 'express';
import type { ApiRoute } from './route-table';

/**
 * The audit trail's name for each admin API action, shared with the panel's
 * forms so one action has one name wherever it was done. A route that
 * changes something and is missing here is still recorded, as
 * "<METHOD> <path>". Reads (GET) are not actions and are not recorded.
 */
export const AUDIT_ACTIONS = {
  'post /federation/outgoing-requests': 'request.create',
  'delete /federation/outgoing-requests/{id}': 'request.revoke',
  'post /federation/incoming-requests/{id}/accept': 'request.accept',
  'post /federation/incoming-requests/{id}/decline': 'request.decline',
  'post /federation/outbox/retry': 'outbox.retry',
  'delete /federation/peers/{id}': 'peer.teardown',
  'post /federation/peers/{id}/test-call': 'peer.test_call',
  'post /federation/peers/{id}/secret-rotation': 'peer.secret_rotation',
  'post /federation/foreign/{id}/refresh': 'partner.refresh',
  'post /federation/partners/{id}/queue/pause': 'partner.queue_pause',
  'post /federation/partners/{id}/queue/resume': 'partner.queue_resume',
  'post /federation/partners/{id}/queue/purge': 'partner.queue_purge',
  'put /federation/policy': 'policy.set',
  'post /federation/keys/rotate': 'keys.rotate',
  'post /reconcile': 'asterisk.reconcile',
  'delete /tokens/{id}': 'token.revoke',
  'delete /admins/{id}': 'admin.revoke',
} as const satisfies Record<string, string>;

export type AuditAction =
  (typeof AUDIT_ACTIONS)[keyof typeof AUDIT_ACTIONS] | 'session.login' | 'session.logout';

export function isAudited(route: Pick<ApiRoute, 'method'>): boolean {
  return route.method !== 'get';
}

export function auditActionOf(route: Pick<ApiRoute, 'method' | 'path'>): string {
  const key = `${route.method} ${route.path}`;
  return (AUDIT_ACTIONS as Record<string, string>)[key] ?? `${route.method.toUpperCase()} ${route.path}`;
}

/**
 * What an action acted on: the id in its path as given, else the peering
 * name of a new request. Only these: a body is never copied into the trail.
 */
export function auditTargetOf(req: Request): string | null {
  const id = (req.params as Record<string, unknown> | undefined)?.id;
  if (typeof id === 'string' && id !== '') return id;
  const name = (req.body as Record<string, unknown> | undefined)?.name;
  return typeof name === 'string' && name !== '' ? name : null;
}
