import { type DataSource, Not } from 'typeorm';
import { partnerKeyExpiry } from '../core/partner-key-expiry';
import type { StateGaugeSnapshot, StateGaugeSource } from '../core/state-gauges';
import { LocalKeyEntity, OutboxEntity, PartnerEntity, PeerEntity } from './entities';

/** The metrics' state gauges read from the database: only the columns they show, nothing unsealed. */
export class TypeormStateGauges implements StateGaugeSource {
  constructor(private readonly db: DataSource) {}

  async snapshot(): Promise<StateGaugeSnapshot> {
    const peers = await this.db.getRepository(PeerEntity).find({
      select: {
        id: true,
        name: true,
        reachability: true,
        latencyMs: true,
        lastSeen: true,
        applyState: true,
        partnerServerName: true,
      },
    });
    const partners = await this.db
      .getRepository(PartnerEntity)
      .find({ select: { serverName: true, signingKeys: true } });
    const expiryOf = new Map(partners.map((p) => [p.serverName, partnerKeyExpiry(p.signingKeys)]));
    const localKeys = await this.db.getRepository(LocalKeyEntity).find({
      select: { kid: true, alg: true, status: true, expiresAt: true },
      where: { status: Not('retired') },
    });
    const outbox = await this.db
      .getRepository(OutboxEntity)
      .createQueryBuilder('o')
      .select('COUNT(*)', 'depth')
      .addSelect('MIN(o.createdAt)', 'oldest')
      .where('o.state = :state', { state: 'pending' })
      .getRawOne<{ depth: string | number; oldest: string | number | null }>();
    const oldest = outbox?.oldest === null || outbox?.oldest === undefined ? null : Number(outbox.oldest);
    return {
      peers: peers.map((p) => ({
        id: p.id,
        name: p.name,
        reachability: p.reachability,
        latencyMs: p.latencyMs,
        lastSeen: p.lastSeen,
        applyState: p.applyState,
        partnerKeyExpiresAt: p.partnerServerName
          ? (expiryOf.get(p.partnerServerName.toLowerCase()) ?? null)
          : null,
      })),
      localKeys: localKeys.map((k) => ({ kid: k.kid, alg: k.alg, status: k.status, expiresAt: k.expiresAt })),
      outbox: { depth: Number(outbox?.depth ?? 0), oldestCreatedAt: oldest },
    };
  }
}
