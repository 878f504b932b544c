import crypto from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Clock } from '../../core/clock';
import { AppError } from '../../core/errors';
import { type AdminUser, AdminUserEntity } from '../../store/entities';
import { deleteById } from './delete-by-id';
import { burnPasswordCheck, hashPassword, verifyPassword } from './password-hash';
import { queuedWrite } from '../../store/write-queue';

export const USERNAME_PATTERN = /^[A-Za-z0-9_.@-]{1,64}$/;
export const MIN_PASSWORD_LENGTH = 10;
/** scrypt input is bounded so a huge password cannot be used to burn CPU. */
export const MAX_PASSWORD_LENGTH = 1024;

export function checkNewPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new AppError('PASSWORD_TOO_SHORT', `the password needs at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  if (password.length > MAX_PASSWORD_LENGTH) {
    throw new AppError(
      'PASSWORD_TOO_LONG',
      `the password may have at most ${MAX_PASSWORD_LENGTH} characters`,
    );
  }
}

/** Creates an admin account, or with `replace` sets a new password for an existing one. */
export async function createAdminUser(
  db: DataSource,
  clock: Clock,
  input: { username: string; password: string; replace?: boolean },
): Promise<{ id: string; username: string; created: boolean }> {
  if (!USERNAME_PATTERN.test(input.username)) {
    throw new AppError('USERNAME_INVALID', 'a username is 1 to 64 letters, digits or . _ @ -');
  }
  checkNewPassword(input.password);
  const repo = db.getRepository(AdminUserEntity);
  const passwordHash = await hashPassword(input.password);
  const existing = await repo.findOneBy({ username: input.username });
  if (existing) {
    if (!input.replace) {
      throw new AppError(
        'ADMIN_EXISTS',
        `admin '${input.username}' exists already; pass --replace to set a new password`,
      );
    }
    await queuedWrite(db, () => repo.update({ id: existing.id }, { passwordHash }));
    return { id: existing.id, username: existing.username, created: false };
  }
  const user: AdminUser = {
    id: crypto.randomUUID(),
    username: input.username,
    passwordHash,
    createdAt: clock.now(),
  };
  await queuedWrite(db, () => repo.insert(user));
  return { id: user.id, username: user.username, created: true };
}

/** The account when the password matches; null otherwise (same work either way). */
export async function checkAdminLogin(
  db: DataSource,
  username: string,
  password: string,
): Promise<AdminUser | null> {
  if (password.length > MAX_PASSWORD_LENGTH) throw new AppError('AUTH_INVALID', 'wrong username or password');
  const user = USERNAME_PATTERN.test(username)
    ? await db.getRepository(AdminUserEntity).findOneBy({ username })
    : null;
  if (!user) return burnPasswordCheck(password).then(() => null);
  return (await verifyPassword(password, user.passwordHash)) ? user : null;
}

/** True when an account of that name exists (for the audit trail's failed sign-ins). */
export async function adminUserExists(db: DataSource, username: string): Promise<boolean> {
  return db.getRepository(AdminUserEntity).existsBy({ username });
}

/** Every admin account, oldest first (never the password hashes). */
export async function listAdminUsers(
  db: DataSource,
): Promise<Pick<AdminUser, 'id' | 'username' | 'createdAt'>[]> {
  const rows = await db.getRepository(AdminUserEntity).find({ order: { createdAt: 'ASC', username: 'ASC' } });
  return rows.map(({ id, username, createdAt }) => ({ id, username, createdAt }));
}

/** Deletes an admin account; its panel sessions end with it (the caller ends them). */
export async function deleteAdminUser(db: DataSource, id: string): Promise<{ id: string; username: string }> {
  const user = await deleteById(db, AdminUserEntity, id);
  if (!user) throw new AppError('ADMIN_NOT_FOUND', `no admin account with id '${id}'`);
  return { id: user.id, username: user.username };
}
