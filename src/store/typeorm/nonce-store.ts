import { type DataSource, LessThanOrEqual, QueryFailedError } from 'typeorm';
import type { Clock } from '../../core/clock';
import { NonceEntity, type NonceRecord } from '../entities';
import { HotStatement, preparedSql, sqliteConnection } from './prepared-sql';
import { exclusive, insideQueuedUnit, isDuplicateKey } from './transactions';

/** A reservation waiting for the next batch (SQLite). */
interface PendingReservation {
  keyId: string;
  nonce: string;
  expiresAt: number;
  resolve: (reserved: boolean) => void;
  reject: (e: unknown) => void;
}

/**
 * Nonces in the database (primary key keyId+nonce), so that replicas sharing
 * it refuse each other's replays too; the unique key makes the check and the
 * reservation one atomic insert.
 *
 * On SQLite the first reservation of a turn of the event loop is inserted at
 * once, and the ones asked for after it in the same turn are inserted
 * together in one transaction in the check phase after the turn's I/O (one
 * commit, one set of WAL pages, for all the other signed requests read in
 * that turn instead of one each; a lone request, such as a partner's poll
 * among a flood of refused calls, waits for no batch). Each caller learns
 * only after its commit, and a nonce asked for twice is reserved once (the
 * second insert hits the key, which rolls back that statement only).
 */
export class TypeormNonceStore {
  /** The reservation, once per signed request (see preparedSql, HotStatement). */
  private insert: HotStatement | null = null;
  /** SQLite: the reservations after the first of this turn of the event loop, inserted together at its end. */
  private batch: PendingReservation[] | null = null;

  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
  ) {}

  /** Never inside another transaction: on SQLite a reservation made while one is open waits for it (see exclusive). */
  reserve(keyId: string, nonce: string, expiresAt: number): Promise<boolean> {
    // Inside a queued unit (its own turn of the queue) a batch would wait for the unit that waits for it.
    if (!sqliteConnection(this.db) || insideQueuedUnit(this.db))
      return this.reserveAlone(keyId, nonce, expiresAt);
    if (this.batch === null) {
      // The first of a turn goes at once, as a lone request always did; the turn's later ones wait for its end.
      this.batch = [];
      setImmediate(() => this.flush());
      return this.reserveAlone(keyId, nonce, expiresAt);
    }
    const batch = this.batch;
    return new Promise<boolean>((resolve, reject) => {
      batch.push({ keyId, nonce, expiresAt, resolve, reject });
    });
  }

  private reserveAlone(keyId: string, nonce: string, expiresAt: number): Promise<boolean> {
    return exclusive(this.db, undefined, async () => {
      if (await this.insertOne(keyId, nonce, expiresAt)) return true;
      return this.reclaimExpired(keyId, nonce, expiresAt);
    });
  }

  private flush(): void {
    const batch = this.batch ?? [];
    this.batch = null;
    if (batch.length === 0) return;
    void exclusive(this.db, undefined, async () => {
      let inserted: boolean[];
      try {
        inserted = await this.insertAll(batch);
      } catch (e) {
        for (const r of batch) r.reject(e);
        return;
      }
      // Taken keys: an expired leftover (not yet purged) does not count as a replay.
      await Promise.all(
        batch.map((r, i) =>
          inserted[i]
            ? r.resolve(true)
            : this.reclaimExpired(r.keyId, r.nonce, r.expiresAt).then(r.resolve, r.reject),
        ),
      );
    });
  }

  private statement(): HotStatement {
    this.insert ??= new HotStatement(
      this.db,
      preparedSql(
        this.db,
        NonceEntity,
        ({ table, col }) =>
          `INSERT INTO ${table} (${col('keyId')}, ${col('nonce')}, ${col('expiresAt')}) VALUES (?, ?, ?)`,
      ),
    );
    return this.insert;
  }

  /**
   * Inserts each reservation of a batch; per reservation whether it was free.
   * On SQLite in one transaction on TypeORM's connection, run synchronously
   * (nothing else can run on the connection in between); any failure other
   * than a taken key rolls the whole batch back and throws.
   */
  private async insertAll(batch: PendingReservation[]): Promise<boolean[]> {
    const stmt = this.statement();
    const sqlite = stmt.sqliteStatement();
    const connection = sqlite?.database;
    if (!sqlite || !connection || connection.inTransaction) {
      const out: boolean[] = [];
      for (const r of batch) out.push(await this.insertOne(r.keyId, r.nonce, r.expiresAt));
      return out;
    }
    try {
      return connection.transaction(() =>
        batch.map((r) => {
          try {
            sqlite.run(r.keyId, r.nonce, r.expiresAt);
            return true;
          } catch (e) {
            if (isSqliteConstraint(e)) return false;
            throw e;
          }
        }),
      )();
    } catch (e) {
      throw new QueryFailedError(stmt.sql, [], e as Error);
    }
  }

  /** One reservation's insert: true when the key was free. */
  private async insertOne(keyId: string, nonce: string, expiresAt: number): Promise<boolean> {
    try {
      await this.statement().run([keyId, nonce, expiresAt]);
      return true;
    } catch (e) {
      if (!isDuplicateKey(e)) throw e;
      return false;
    }
  }

  /** A taken key whose reservation already expired (not yet purged) is freed and reserved again. */
  private async reclaimExpired(keyId: string, nonce: string, expiresAt: number): Promise<boolean> {
    const now = this.clock.now();
    const repo = this.db.getRepository<NonceRecord>(NonceEntity);
    const existing = await repo.findOneBy({ keyId, nonce });
    if (existing && existing.expiresAt <= now) {
      const res = await repo.delete({ keyId, nonce, expiresAt: LessThanOrEqual(now) });
      if ((res.affected ?? 0) > 0) {
        try {
          await repo.insert({ keyId, nonce, expiresAt });
          return true;
        } catch (e) {
          if (!isDuplicateKey(e)) throw e;
        }
      }
    }
    return false;
  }

  async purgeExpired(): Promise<number> {
    const res = await exclusive(this.db, undefined, () =>
      this.db
        .getRepository<NonceRecord>(NonceEntity)
        .delete({ expiresAt: LessThanOrEqual(this.clock.now()) }),
    );
    return res.affected ?? 0;
  }
}

/** A refusal of SQLite's by a key or another constraint, as better-sqlite3 throws it. */
function isSqliteConstraint(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT');
}
