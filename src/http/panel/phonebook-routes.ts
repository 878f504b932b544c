import type { Router } from 'express';
import type { PanelKit } from './panel-kit';
import { phonebookPage } from './phonebook-page';

/** The phonebook page: every partner's numbers with our prefix in front (read only). */
export function phonebookRoutes(r: Router, kit: PanelKit): void {
  kit.view('/panel/phonebook', 'phonebook', async () => ({
    title: 'Phonebook',
    body: phonebookPage(await kit.deps.services.federation.partnerPhonebooks()),
  }));
}
