import type { Config } from '../../config/schema';

/** Where a side database is: the phonebook.uuruDatabase setting. */
export type SideDatabaseConnection = NonNullable<Config['phonebook']['uuruDatabase']>;

/**
 * A database the protocol reads but does not own (µURU's `extension` table,
 * for the directory). Connects on the first query; closed by its user.
 */
export interface SideDatabase {
  /** Runs one statement with `?` placeholders and returns its rows. */
  query(sql: string, params: unknown[]): Promise<unknown[]>;
  close(): Promise<void>;
}

/** Opens a side database with at most `connectionLimit` connections (src/store/mysql-pool.ts). */
export type OpenSideDatabase = (connection: SideDatabaseConnection, connectionLimit: number) => SideDatabase;
