import type { DataSource } from 'typeorm';
import { PartnerHealthEntity, type PartnerHealth } from '../entities';

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

  async put(row: PartnerHealth): Promise<void> {
    await this.repo().save({ ...row, serverName: row.serverName.toLowerCase() });
  }
}
