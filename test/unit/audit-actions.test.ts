import { adminApiRoutes } from '../../src/http/admin/api-routes';
import { AUDIT_ACTIONS, auditActionOf, isAudited } from '../../src/http/admin/audit-actions';
import { auditRoutes } from '../../src/http/admin/audit-routes';
import { accountApiRoutes } from '../../src/http/admin/account-routes';
import type { AdminServices } from '../../src/http/admin/api-routes';
import type { AuditTrail } from '../../src/http/admin/audit-trail';

/**
 * The audit trail's action names against the admin API's route table: every
 * name belongs to a route that exists and changes something (a renamed or
 * removed route cannot leave a stale name behind), reads are never actions,
 * and a changing route without a name is still recorded under its method and
 * path. The routes are only listed here, never called.
 */

const routes = [
  ...adminApiRoutes({} as AdminServices, () => ({})),
  ...accountApiRoutes({} as Parameters<typeof accountApiRoutes>[0]),
  ...auditRoutes({} as AuditTrail),
];

it('names only routes that exist and change something', () => {
  const changing = new Set(routes.filter(isAudited).map((r) => `${r.method} ${r.path}`));
  expect(Object.keys(AUDIT_ACTIONS).filter((key) => !changing.has(key))).toEqual([]);
});

it('does not audit reads, including the audit trail itself', () => {
  const reads = routes.filter((r) => r.method === 'get');
  expect(reads.map((r) => r.path)).toContain('/audit');
  expect(reads.filter(isAudited)).toEqual([]);
});

it('gives each action one name, and a changing route without a name its method and path', () => {
  const names = Object.values(AUDIT_ACTIONS);
  expect(new Set(names).size).toBe(names.length);
  expect(auditActionOf({ method: 'delete', path: '/federation/peers/{id}' })).toBe('peer.teardown');
  expect(auditActionOf({ method: 'post', path: '/tokens/{id}/revoke' })).toBe('POST /tokens/{id}/revoke');
});
