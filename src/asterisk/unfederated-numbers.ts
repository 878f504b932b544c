import type { DataSource } from 'typeorm';
import type { Config } from '../config/schema';
import type { Logger } from '../logging/logger';
import { SettingEntity } from '../store/entities';
import { assertUnfederatedNumber } from './peer-validation';

/**
 * The local numbers no peer may reach: the policy's `unfederated_numbers`
 * (Setting "policy", written by the admin layer), or the configured reserved
 * extensions until a policy exists. Invalid entries are dropped with a
 * warning rather than written into the dial plan.
 */
export async function readUnfederatedNumbers(
  db: DataSource,
  config: Config,
  logger: Logger,
): Promise<string[]> {
  const row = await db.getRepository(SettingEntity).findOne({ where: { key: 'policy' } });
  const value = row?.value as { unfederated_numbers?: unknown } | null | undefined;
  const list = Array.isArray(value?.unfederated_numbers)
    ? (value.unfederated_numbers as unknown[])
    : config.instance.reservedExtensions;
  const valid: string[] = [];
  for (const n of list) {
    try {
      valid.push(assertUnfederatedNumber('unfederated_numbers', n));
    } catch {
      logger.warn('ignoring an invalid unfederated number in the policy', { component: 'asterisk' });
    }
  }
  return [...new Set(valid)].sort();
}
