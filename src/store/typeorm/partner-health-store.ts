import type { DataSource } from 'typeorm';
import { PartnerHealthEntity, type PartnerHealth } from '../entities';
import { exclusive } from './transactions';

/** The partner_health table through TypeORM; server names are stored lower case. */
export class TypeormPartnerHealthStore {
  constructor(private readonly db: DataSource) {}

  private repo() {
    return this.db.getRepository<PartnerHealth>(PartnerHealthEntity);
  }

  get(serverName: string): Promise<PartnerHealth | null> {
    return this.repo().findOneBy({ serverName: serverName.toLowerCase() });
  }

  list(): Promise<PartnerHealth[]> {
    return this.repo().find({ order: { serverName: 'ASC' } });
  }

  /**
   * One statement (INSERT ... ON CONFLICT / ON DUPLICATE KEY UPDATE), never a transaction of its own:
   * `save()` wraps itself in one, and on SQLite's single connection that would interleave with the
   * protocol's serial transactions (a verified inbound request records its time while the handshake's
   * transaction is open) and commit or roll back the other's work.
   */
  async put(row: PartnerHealth): Promise<void> {
    const lower = { ...row, serverName: row.serverName.toLowerCase() };
    await exclusive(this.db, undefined, () => this.repo().upsert(lower, ['serverName']));
  }
}
