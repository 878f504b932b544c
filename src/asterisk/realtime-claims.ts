import type { DataSource } from 'typeorm';
import type { Clock } from '../core/clock';
import { AsteriskRealtimeRowEntity } from '../store/entities';
import { queuedWrite } from '../store/write-queue';

/** A row in Asterisk's realtime tables as the realtime backend keys it (see realtime-backend.ts). */
export interface RealtimeRowKey {
  table: 'iaxfriends' | 'extensions';
  key: string;
}

/**
 * The realtime backend's record of the rows it owns (asterisk_realtime_rows),
 * for taking over rows another program wrote (adopt) and giving them back
 * (adopt --undo). The realtime backend changes and deletes only rows listed here.
 */
export class RealtimeRowClaimStore {
  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
  ) {}

  async claim(rows: RealtimeRowKey[]): Promise<void> {
    const repo = this.db.getRepository(AsteriskRealtimeRowEntity);
    await queuedWrite(this.db, async () => {
      for (const r of rows)
        await repo.upsert({ tableName: r.table, rowKey: r.key, createdAt: this.clock.now() }, [
          'tableName',
          'rowKey',
        ]);
    });
  }

  async release(rows: RealtimeRowKey[]): Promise<void> {
    const repo = this.db.getRepository(AsteriskRealtimeRowEntity);
    await queuedWrite(this.db, async () => {
      for (const r of rows) await repo.delete({ tableName: r.table, rowKey: r.key });
    });
  }

  async claimed(rows: RealtimeRowKey[]): Promise<RealtimeRowKey[]> {
    const repo = this.db.getRepository(AsteriskRealtimeRowEntity);
    const out: RealtimeRowKey[] = [];
    for (const r of rows) if (await repo.findOneBy({ tableName: r.table, rowKey: r.key })) out.push(r);
    return out;
  }
}
