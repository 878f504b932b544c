import { type DataSource, LessThan, MoreThanOrEqual } from 'typeorm';
import type { QualitySource, TrunkQualitySample, TrunkQualityStore } from '../core/trunk-quality';
import { TrunkQualitySampleEntity, type TrunkQualityRow } from './entities';
import { exclusive } from './typeorm/transactions';

const whole = (v: number | null): number | null => (v === null ? null : Math.round(v));
const permille = (ratio: number | null): number | null => (ratio === null ? null : Math.round(ratio * 1000));
const ratio = (permille: number | null): number | null => (permille === null ? null : permille / 1000);

const toRow = (s: TrunkQualitySample): Omit<TrunkQualityRow, 'seq'> => ({
  peer: s.peer,
  at: s.at,
  source: s.source,
  calls: s.calls,
  rttMs: whole(s.rttMs),
  inJitterMs: whole(s.inbound.jitterMs),
  inLossPermille: permille(s.inbound.lossRatio),
  outJitterMs: whole(s.outbound.jitterMs),
  outLossPermille: permille(s.outbound.lossRatio),
});

const fromRow = (r: TrunkQualityRow): TrunkQualitySample => ({
  peer: r.peer,
  at: r.at,
  source: r.source === 'probe' ? 'probe' : ('call' satisfies QualitySource),
  calls: r.calls,
  rttMs: r.rttMs,
  inbound: { jitterMs: r.inJitterMs, lossRatio: ratio(r.inLossPermille) },
  outbound: { jitterMs: r.outJitterMs, lossRatio: ratio(r.outLossPermille) },
});

/**
 * The trunk_quality_samples table on TypeORM: the Asterisk layer's call-quality
 * monitor writes and prunes it (through TrunkQualityStore, handed in by the
 * composition); the admin API and panel only read.
 */
export class TypeormTrunkQualityStore implements TrunkQualityStore {
  constructor(private readonly db: DataSource) {}

  private get repo() {
    return this.db.getRepository(TrunkQualitySampleEntity);
  }

  async add(samples: readonly TrunkQualitySample[]): Promise<void> {
    if (samples.length > 0) await exclusive(this.db, undefined, () => this.repo.insert(samples.map(toRow)));
  }

  async since(since: number, peer?: string): Promise<TrunkQualitySample[]> {
    const rows = await this.repo.find({
      where: { at: MoreThanOrEqual(since), ...(peer === undefined ? {} : { peer }) },
      order: { at: 'ASC', seq: 'ASC' },
    });
    return rows.map(fromRow);
  }

  async prune(before: number): Promise<number> {
    const r = await exclusive(this.db, undefined, () => this.repo.delete({ at: LessThan(before) }));
    return r.affected ?? 0;
  }

  async latest(): Promise<TrunkQualitySample[]> {
    const newest = this.repo.createQueryBuilder('n').select('MAX(n.seq)').groupBy('n.peer').getQuery();
    const rows = await this.repo.createQueryBuilder('s').where(`s.seq IN (${newest})`).getMany();
    return rows.map(fromRow);
  }
}
