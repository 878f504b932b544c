import type { LocalKey } from '../../core/records';
import type { StoreTx } from './transactions';

export type { LocalKey };

export type LocalKeyPatch = Partial<Pick<LocalKey, 'status' | 'notBefore' | 'expiresAt' | 'privateKey'>>;

/** The local_keys table: our own key pairs (private halves encrypted by the caller). */
export interface LocalKeyStore {
  /** Keys matching the filter, ordered by not_before (then kid) in the given direction. */
  list(
    filter: { alg?: LocalKey['alg']; status?: LocalKey['status'][]; expiresAtOrBefore?: number },
    order: 'asc' | 'desc',
    tx?: StoreTx,
  ): Promise<LocalKey[]>;
  get(kid: string, tx?: StoreTx): Promise<LocalKey | null>;
  insert(row: LocalKey, tx?: StoreTx): Promise<void>;
  /** With `onlyIfStatus`, changes the key only while it still has that status; false when it did not. */
  update(
    kid: string,
    patch: LocalKeyPatch,
    opts?: { onlyIfStatus?: LocalKey['status'] },
    tx?: StoreTx,
  ): Promise<boolean>;
}
