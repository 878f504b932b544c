import type { Clock } from '../core/clock';
import { AppError, errorMessage } from '../core/errors';
import type { PhonebookSource } from './phonebook';
import type { OpenSideDatabase, SideDatabase, SideDatabaseConnection } from './ports/side-database';

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
 * The public directory of a stock µURU: its `extension` table (SQLModel
 * model Extension: extension, name, type, public, location_name, lat, lon,
 * plus token, password, info, user_id and extra_fields, which are never read).
 * Only rows with `public` true are selected, as µURU's own phonebook does.
 */
export class UuruExtensionTable implements PhonebookSource {
  readonly label: string;
  private db: SideDatabase | null = null;
  private cache: { at: number; rows: unknown[] } | null = null;
  private loading: Promise<unknown[]> | null = null;

  constructor(
    private readonly cfg: SideDatabaseConnection,
    private readonly clock: Clock,
    private readonly open: OpenSideDatabase,
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
    const db = this.db;
    this.db = null;
    await db?.close();
  }

  private async load(): Promise<unknown[]> {
    let found: ExtensionRow[];
    try {
      const rows = await this.sideDatabase().query(
        'SELECT extension, name, type, public, location_name, lat, lon FROM extension' +
          ' WHERE public = TRUE ORDER BY extension LIMIT ?',
        [MAX_ROWS],
      );
      found = rows as ExtensionRow[];
    } catch (e) {
      throw new AppError('PHONEBOOK_UNAVAILABLE', `the µURU database cannot be read: ${errorMessage(e)}`);
    }
    // The driver hands back tinyint(1) as a number; the directory's schema wants a boolean.
    const rows = found.map((r) => ({ ...r, public: r.public === true || Number(r.public) === 1 }));
    this.cache = { at: this.clock.now(), rows };
    return rows;
  }

  private sideDatabase(): SideDatabase {
    this.db ??= this.open(this.cfg, 2);
    return this.db;
  }
}
