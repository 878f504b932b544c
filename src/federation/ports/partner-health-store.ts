import type { PartnerHealth } from '../../core/records';

export type { PartnerHealth };

/** The partner_health table: one row per partner server name (stored lower case). */
export interface PartnerHealthStore {
  get(serverName: string): Promise<PartnerHealth | null>;
  /** Every row, by server name. */
  list(): Promise<PartnerHealth[]>;
  /** Inserts the row or replaces the stored one of that server name. */
  put(row: PartnerHealth): Promise<void>;
}
