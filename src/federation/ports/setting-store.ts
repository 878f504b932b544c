import type { StoreTx } from './transactions';

/** The settings table: small JSON values under a key (the policy lives under "policy"). */
export interface SettingStore {
  get(key: string): Promise<unknown>;
  put(key: string, value: unknown, updatedAt: number, tx?: StoreTx): Promise<void>;
}
