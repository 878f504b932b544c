import type { Router } from 'express';
import { AUDIT_PAGE_DEFAULT, auditQuery } from '../admin/audit-routes';
import { parseInput } from '../admin/route-table';
import { auditPage } from './audit-page';
import type { PanelKit } from './panel-kit';

/** The audit page: the same trail and cursor as GET /api/admin/audit. */
export function auditRoutes(r: Router, kit: PanelKit): void {
  kit.view('/panel/audit', 'audit', async (req) => {
    const q = parseInput(auditQuery, { ...(req.query as object) }, 'query');
    const page = await kit.deps.audit.list({ limit: q.limit ?? AUDIT_PAGE_DEFAULT, cursor: q.cursor });
    return { title: 'Audit', body: auditPage(page, { first: q.cursor === undefined, limit: q.limit }) };
  });
}
