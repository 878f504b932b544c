import type { Router } from 'express';
import { parsePolicyForm } from './panel-forms';
import type { PanelKit } from './panel-kit';
import { policyPage } from './policy-page';

/** The policy page: who may ask us to peer, and what never crosses. */
export function policyRoutes(r: Router, kit: PanelKit): void {
  const fed = kit.deps.services.federation;

  kit.view('/panel/policy', 'policy', async (_req, csrf) => ({
    title: 'Policy',
    body: policyPage(await fed.getPolicy(), csrf),
  }));
  kit.post('/panel/policy', '/panel/policy', { action: 'policy.set', target: () => null }, async (req) => {
    const report = await fed.setPolicy(parsePolicyForm(req.body));
    const affected = report.affected_peers.map((p) => `${p.name} (${p.reason})`).join(', ');
    return {
      flash: {
        kind: 'ok',
        text: affected
          ? `Policy saved. These peers would not be admitted now and are kept until you tear them down: ${affected}.`
          : 'Policy saved.',
      },
      json: report,
    };
  });
}
