import { z } from 'zod';
import { type AfterRoute, type ApiRoute, defineRoute } from './route-table';
import { auditActionOf, auditTargetOf, isAudited } from './audit-actions';
import { auditActorOf, type AuditTrail } from './audit-trail';

/** The audit trail's page size when none is asked for, and the largest page. */
export const AUDIT_PAGE_DEFAULT = 50;
export const AUDIT_PAGE_MAX = 200;

export const auditQuery = z.strictObject({
  limit: z
    .string()
    .regex(/^[0-9]{1,3}$/, 'a whole number')
    .transform(Number)
    .refine((n) => n >= 1 && n <= AUDIT_PAGE_MAX, `from 1 to ${AUDIT_PAGE_MAX}`)
    .optional()
    .describe(`events per page (default ${AUDIT_PAGE_DEFAULT}, at most ${AUDIT_PAGE_MAX})`),
  cursor: z
    .string()
    .regex(/^[0-9]{1,15}$/, 'the next_cursor of a previous page')
    .optional()
    .describe('next_cursor of the previous page: continue with older events'),
});

export const auditEventView = z.object({
  id: z.number().int(),
  at: z.string().describe('when, ISO 8601 UTC'),
  actor: z.string().describe("the admin's username or the API token's name"),
  actor_kind: z.enum(['admin', 'token', 'local']),
  via: z.enum(['api', 'panel', 'cli']),
  action: z.string().describe('e.g. peer.teardown, request.create, policy.set, session.login'),
  target: z.string().nullable().describe('the id or peering name acted on, as given'),
  outcome: z.enum(['ok', 'error']),
  error_code: z.string().nullable().describe('the error code of a failed action'),
});

export const auditPageView = z.object({
  events: z.array(auditEventView),
  next_cursor: z.string().nullable(),
});

/** GET /audit: the trail, newest first, a page at a time. */
export function auditRoutes(trail: AuditTrail): ApiRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/audit',
      summary: 'Who did which admin action, when, and how it ended (newest first)',
      tag: 'audit',
      query: auditQuery,
      success: { status: 200, schema: auditPageView, description: 'one page of the audit trail' },
      handle: async ({ query }) => ({
        body: await trail.list({ limit: query.limit ?? AUDIT_PAGE_DEFAULT, cursor: query.cursor }),
      }),
    }),
  ];
}

/** The admin API's audit hook: every authenticated action (not a read) is recorded with its outcome. */
export function auditApiHook(trail: AuditTrail): AfterRoute {
  return async (route, req, error) => {
    if (!isAudited(route) || !req.principal) return;
    await trail.record({
      ...auditActorOf(req.principal),
      via: 'api',
      action: auditActionOf(route),
      target: auditTargetOf(req),
      error,
    });
  };
}
