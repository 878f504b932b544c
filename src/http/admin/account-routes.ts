import { z } from 'zod';
import type { DataSource } from 'typeorm';
import { deleteAdminUser, listAdminUsers } from './admin-users';
import { adminUserView, apiTokenView, asteriskConfigView, idParams, noQuery } from './api-schemas';
import { deleteApiToken, listApiTokens } from './api-tokens';
import { type ApiRoute, defineRoute } from './route-table';
import type { AdminSessions } from './session-store';

/**
 * The admin API's routes for the operator's own tools: API tokens and admin
 * accounts (listed and revoked; they are created with the CLI on the
 * database, before any token exists), and the Asterisk configuration the
 * sidecar generates.
 */

export interface AccountServices {
  db: DataSource;
  sessions: AdminSessions;
  /** The generated Asterisk configuration, secrets replaced (composed in src/app.ts). */
  generatedAsteriskConfig(): Promise<z.infer<typeof asteriskConfigView>>;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function accountApiRoutes(s: AccountServices): ApiRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/tokens',
      summary: 'Stored API tokens (names and times; a token is shown only when created)',
      tag: 'accounts',
      query: noQuery,
      success: { status: 200, schema: z.object({ tokens: z.array(apiTokenView) }), description: 'tokens' },
      handle: async () => ({
        body: {
          tokens: (await listApiTokens(s.db)).map((t) => ({
            id: t.id,
            name: t.name,
            created_at: iso(t.createdAt),
            last_used_at: iso(t.lastUsedAt),
          })),
        },
      }),
    }),
    defineRoute({
      method: 'delete',
      path: '/tokens/{id}',
      summary: 'Revoke an API token (the bootstrap token is configuration, not stored)',
      tag: 'accounts',
      params: idParams,
      query: noQuery,
      success: { status: 204, description: 'revoked' },
      errors: ['TOKEN_NOT_FOUND'],
      handle: async ({ params }) => {
        await deleteApiToken(s.db, params.id);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/admins',
      summary: 'Panel admin accounts',
      tag: 'accounts',
      query: noQuery,
      success: { status: 200, schema: z.object({ admins: z.array(adminUserView) }), description: 'admins' },
      handle: async () => ({
        body: {
          admins: (await listAdminUsers(s.db)).map((a) => ({
            id: a.id,
            username: a.username,
            created_at: iso(a.createdAt),
          })),
        },
      }),
    }),
    defineRoute({
      method: 'delete',
      path: '/admins/{id}',
      summary: 'Delete a panel admin account; its panel sessions end at once',
      tag: 'accounts',
      params: idParams,
      query: noQuery,
      success: { status: 204, description: 'deleted' },
      errors: ['ADMIN_NOT_FOUND'],
      handle: async ({ params }) => {
        const gone = await deleteAdminUser(s.db, params.id);
        await s.sessions.destroyUser(gone.username);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/asterisk/config',
      summary:
        'The Asterisk configuration generated from the peers (IAX2 secrets replaced); with Asterisk off, what would be written',
      tag: 'asterisk',
      query: noQuery,
      success: { status: 200, schema: asteriskConfigView, description: 'the generated files (or rows)' },
      handle: async () => ({ body: await s.generatedAsteriskConfig() }),
    }),
  ];
}
