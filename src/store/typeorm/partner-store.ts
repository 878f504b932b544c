import type { DataSource, QueryDeepPartialEntity } from 'typeorm';
import { PartnerEntity, type Partner } from '../entities';
import { exclusive, managerOf, type StoreTxToken } from './transactions';

/** The partners table through TypeORM; server names are looked up and stored lower case. */
export class TypeormPartnerStore {
  constructor(private readonly db: DataSource) {}

  private repo(tx?: StoreTxToken) {
    return managerOf(this.db, tx).getRepository<Partner>(PartnerEntity);
  }

  get(serverName: string, tx?: StoreTxToken): Promise<Partner | null> {
    return this.repo(tx).findOneBy({ serverName: serverName.toLowerCase() });
  }

  /** The columns a signature check reads, without the descriptor (parsed on every read otherwise). */
  async signingKeysOf(
    serverName: string,
    tx?: StoreTxToken,
  ): Promise<Pick<Partner, 'signingKeys' | 'heldKeys' | 'fetchFailures'> | null> {
    const row = await this.repo(tx).findOne({
      select: { serverName: true, signingKeys: true, heldKeys: true, fetchFailures: true },
      where: { serverName: serverName.toLowerCase() },
    });
    return row
      ? { signingKeys: row.signingKeys, heldKeys: row.heldKeys, fetchFailures: row.fetchFailures }
      : null;
  }

  /**
   * One SELECT of two columns for every partner: the health-notices pass looked each of 1,000 partners up
   * with its own findOneBy (about 200 ms a pass, in one stretch of the event loop's turns).
   */
  async allSigningKeys(): Promise<Map<string, Partner['signingKeys']>> {
    const rows = await this.repo().find({ select: { serverName: true, signingKeys: true } });
    return new Map(rows.map((r) => [r.serverName.toLowerCase(), r.signingKeys]));
  }

  async insert(partner: Partner, tx?: StoreTxToken): Promise<void> {
    // TypeORM's partial-entity type cannot express the free-form JSON column.
    const row = {
      ...partner,
      serverName: partner.serverName.toLowerCase(),
    } as QueryDeepPartialEntity<Partner>;
    await exclusive(this.db, tx, () => this.repo(tx).insert(row));
  }

  async update(serverName: string, patch: Partial<Partner>, tx?: StoreTxToken): Promise<void> {
    const where = { serverName: serverName.toLowerCase() };
    await exclusive(this.db, tx, () => this.repo(tx).update(where, patch as QueryDeepPartialEntity<Partner>));
  }

  async delete(serverName: string, tx?: StoreTxToken): Promise<void> {
    await exclusive(this.db, tx, () => this.repo(tx).delete({ serverName: serverName.toLowerCase() }));
  }
}
