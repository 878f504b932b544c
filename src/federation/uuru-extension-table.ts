import { openSideSql, type SideSql } from '../store/side-sql';
import type { Config } from '../config/schema';
import type { Clock } from '../core/clock';
import { AppError, errorMessage } from '../core/errors';
import type { PhonebookSource } from './phonebook';

type UuruDatabase = NonNullable<Config['phonebook']['uuruDatabase']>;

/** Partners may poll the directory; the µURU database is asked at most this often. */
const CACHE_MS = 30 * 1000;
/** A directory is small; a runaway table must not fill our memory. */
const MAX_ROWS = 20_000;

interface ExtensionRow {
  extension: unknown;
  name: unknown;
  type: unknown;
  public: unknown;
  location_name: unknown;
  lat: unknown;
  lon: unknown;
}

/**
 * The public directory of a stock µURU: its `extension` table, in its
 * application database on either engine (PostgreSQL, µURU's default, or
 * MySQL/MariaDB) (SQLModel
 * model Extension: extension, name, type, public, location_name, lat, lon,
 * plus token, password, info, user_id and extra_fields, which are never read).
 * Only rows with `public` true are selected, as µURU's own phonebook does.
 */
export class UuruExtensionTable implements PhonebookSource {
  readonly label: string;
  private pool: SideSql | null = null;
  private cache: { at: number; rows: unknown[] } | null = null;
  private loading: Promise<unknown[]> | null = null;

  constructor(
    private readonly cfg: UuruDatabase,
    private readonly clock: Clock,
  ) {
    this.label = `µURU database ${cfg.database}@${cfg.socketPath ?? `${cfg.host}:${cfg.port}`}`;
  }

  async rows(): Promise<unknown[]> {
    const now = this.clock.now();
    if (this.cache && now - this.cache.at < CACHE_MS) return this.cache.rows;
    this.loading ??= this.load().finally(() => (this.loading = null));
    return this.loading;
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    await pool?.close();
  }

  private async load(): Promise<unknown[]> {
    let found: ExtensionRow[];
    try {
      found = await this.getPool().query<ExtensionRow>(
        'SELECT extension, name, type, public, location_name, lat, lon FROM extension' +
          ' WHERE public = TRUE ORDER BY extension LIMIT ?',
        [MAX_ROWS],
      );
    } catch (e) {
      throw new AppError('PHONEBOOK_UNAVAILABLE', `the µURU database cannot be read: ${errorMessage(e)}`);
    }
    // MySQL hands back tinyint(1) as a number (PostgreSQL a boolean); the directory's schema wants a boolean.
    const rows = found.map((r) => ({ ...r, public: r.public === true || Number(r.public) === 1 }));
    this.cache = { at: this.clock.now(), rows };
    return rows;
  }

  private getPool(): SideSql {
    this.pool ??= openSideSql({ ...this.cfg, engine: this.cfg.type }, 2);
    return this.pool;
  }
}
