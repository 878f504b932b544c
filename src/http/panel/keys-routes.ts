import type { Router } from 'express';
import { keysPage } from './keys-page';
import { emptyForm, parseForm } from './panel-forms';
import { type PanelKit, pathId } from './panel-kit';

/** The keys page: our keys, rotation, and refetching a partner's keys. */
export function keysRoutes(r: Router, kit: PanelKit): void {
  const fed = kit.deps.services.federation;

  kit.view('/panel/keys', 'keys', async (_req, csrf) => {
    const [keys, peers] = await Promise.all([fed.listKeys(), fed.listPeers()]);
    return { title: 'Keys', body: keysPage(keys, peers, csrf) };
  });
  kit.post(
    '/panel/keys/rotate',
    '/panel/keys',
    { action: 'keys.rotate', target: () => null },
    async (req) => {
      parseForm(emptyForm, req.body);
      await fed.rotateKeys();
      return {
        flash: {
          kind: 'ok',
          text: 'Key rotation started; partners will accept the new key through its endorsement.',
        },
      };
    },
  );
  kit.post('/panel/keys/partners/:id/refresh', '/panel/keys', { action: 'partner.refresh' }, async (req) => {
    parseForm(emptyForm, req.body);
    const out = await fed.refreshPartner(pathId(req));
    return {
      flash: { kind: 'ok', text: `Refetched ${out.server_name}: ${out.confirmed} held key(s) confirmed.` },
      json: out,
    };
  });
}
