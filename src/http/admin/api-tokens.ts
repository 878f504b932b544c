import crypto from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Clock } from '../../core/clock';
import { AppError } from '../../core/errors';
import { type ApiToken, ApiTokenEntity } from '../../store/entities';
import { deleteById } from './delete-by-id';
import { queuedWrite } from '../../store/write-queue';

/**
 * API tokens: 256 random bits, shown once at creation. Only their sha256 is
 * stored, so a leaked database does not leak usable tokens; lookups by hash
 * need no constant-time compare because the hash reveals nothing usable.
 */

const TOKEN_PREFIX = 'uuf_';
export const TOKEN_NAME_PATTERN = /^[A-Za-z0-9_. -]{1,64}$/;

export function sha256Hex(value: string): string {
  return crypto.createHash('sha256').update(value, 'utf8').digest('hex');
}

export async function createApiToken(
  db: DataSource,
  clock: Clock,
  name: string,
): Promise<{ id: string; name: string; token: string }> {
  if (!TOKEN_NAME_PATTERN.test(name)) {
    throw new AppError('TOKEN_NAME_INVALID', 'a token name is 1 to 64 letters, digits, spaces or . _ -');
  }
  const token = TOKEN_PREFIX + crypto.randomBytes(32).toString('base64url');
  const row: ApiToken = {
    id: crypto.randomUUID(),
    name,
    tokenHash: sha256Hex(token),
    createdAt: clock.now(),
    lastUsedAt: null,
  };
  await queuedWrite(db, () => db.getRepository(ApiTokenEntity).insert(row));
  return { id: row.id, name, token };
}

/** Every stored API token, oldest first: names and times only, never the hashes. */
export async function listApiTokens(db: DataSource): Promise<Omit<ApiToken, 'tokenHash'>[]> {
  const rows = await db.getRepository(ApiTokenEntity).find({ order: { createdAt: 'ASC', name: 'ASC' } });
  return rows.map(({ id, name, createdAt, lastUsedAt }) => ({ id, name, createdAt, lastUsedAt }));
}

/** Revokes a stored token: the next request that presents it is refused. */
export async function deleteApiToken(db: DataSource, id: string): Promise<{ id: string; name: string }> {
  const row = await deleteById(db, ApiTokenEntity, id);
  if (!row) throw new AppError('TOKEN_NOT_FOUND', `no API token with id '${id}'`);
  return { id: row.id, name: row.name };
}

export interface TokenPrincipal {
  kind: 'token';
  name: string;
}

/** Checks a presented bearer token against the bootstrap token and the stored hashes. */
export class ApiTokenVerifier {
  private readonly bootstrapHash: Buffer | null;

  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
    bootstrapToken: string | undefined,
  ) {
    this.bootstrapHash = bootstrapToken ? Buffer.from(sha256Hex(bootstrapToken), 'hex') : null;
  }

  async verify(presented: string): Promise<TokenPrincipal | null> {
    if (presented.length === 0 || presented.length > 512) return null;
    const hash = sha256Hex(presented);
    if (this.bootstrapHash && crypto.timingSafeEqual(Buffer.from(hash, 'hex'), this.bootstrapHash)) {
      return { kind: 'token', name: 'bootstrap' };
    }
    const repo = this.db.getRepository(ApiTokenEntity);
    const row = await repo.findOneBy({ tokenHash: hash });
    if (!row) return null;
    const at = this.clock.now();
    await queuedWrite(this.db, () => repo.update({ id: row.id }, { lastUsedAt: at }));
    return { kind: 'token', name: row.name };
  }
}
