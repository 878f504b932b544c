import { type DataSource, type FindOptionsWhere, IsNull, MoreThan, Not } from 'typeorm';
import {
  IncomingRequestEntity,
  OutgoingRequestEntity,
  PeerEntity,
  type IncomingRequest,
  type OutgoingRequest,
  type Peer,
} from '../entities';
import { isSealedColumnOf } from '../secrets-at-rest';
import { changedAny } from './changed';
import { HotStatement, preparedSql, selectRows } from './prepared-sql';
import { exclusive, managerOf, type StoreTxToken } from './transactions';

/** The columns the peering-state poll reads (the port's PeerEpochRow). */
type PeerEpochRow = Pick<
  Peer,
  'partnerServerName' | 'dialect' | 'secretEpochSeconds' | 'secretEpochOffset' | 'secretShiftAt'
>;

type PeerKey =
  | { id: string }
  | { name: string }
  | { requestId: string; role?: Peer['role'] }
  | { partnerServerName: string; dialect: Peer['dialect'] };

const OLDEST_FIRST = { createdAt: 'ASC', id: 'ASC' } as const;

/** A peer without its sealed secrets, for the admin views (the protocol's PeerSummary). */
type PeerSummary = Omit<Peer, 'secret' | 'previousSecret' | 'nextSecret'> & { hasPreviousSecret: boolean };

/** The peer_map's columns of a peer (the protocol's PeerMapRow). */
type PeerMapRow = Pick<Peer, 'partnerServerName' | 'partnerUrl' | 'state' | 'applyState' | 'reachability'>;

/** Peers and peering requests (tables peers, outgoing_requests, incoming_requests) through TypeORM. */
export class TypeormPeeringStore {
  /** Read on every signed request about a peering (see preparedSql, HotStatement). */
  private partnerOfRequest: HotStatement | null = null;
  /** Read on every peering-state poll of an active peering (its trunk secret epochs). */
  private epochsOfRequest: HotStatement | null = null;

  constructor(private readonly db: DataSource) {}

  private peers(tx?: StoreTxToken) {
    return managerOf(this.db, tx).getRepository<Peer>(PeerEntity);
  }
  private outgoing(tx?: StoreTxToken) {
    return managerOf(this.db, tx).getRepository<OutgoingRequest>(OutgoingRequestEntity);
  }
  private incoming(tx?: StoreTxToken) {
    return managerOf(this.db, tx).getRepository<IncomingRequest>(IncomingRequestEntity);
  }

  listPeers(filter: { dialect?: Peer['dialect'] } = {}, tx?: StoreTxToken): Promise<Peer[]> {
    const where: FindOptionsWhere<Peer> = {};
    if (filter.dialect) where.dialect = filter.dialect;
    return this.peers(tx).find({ where, order: OLDEST_FIRST });
  }

  async listPeerSummaries(): Promise<PeerSummary[]> {
    const repo = this.peers();
    // Every column but the sealed ones (their transformer decrypts on each read), and which rows keep a v1 secret.
    const select = Object.fromEntries(
      repo.metadata.columns.filter((c) => !isSealedColumnOf(c)).map((c) => [c.propertyName, true]),
    );
    const [rows, keeping] = await Promise.all([
      repo.find({ select, order: OLDEST_FIRST }),
      repo.find({ select: { id: true }, where: { previousSecret: Not(IsNull()) } }),
    ]);
    const kept = new Set(keeping.map((r) => r.id));
    return rows.map((r) => ({ ...r, hasPreviousSecret: kept.has(r.id) }));
  }

  listPeerMapRows(): Promise<PeerMapRow[]> {
    return this.peers().find({
      select: {
        partnerServerName: true,
        partnerUrl: true,
        state: true,
        applyState: true,
        reachability: true,
      },
    });
  }

  findPeer(key: PeerKey, tx?: StoreTxToken): Promise<Peer | null> {
    return this.peers(tx).findOneBy(key);
  }

  async peerPartnerOfRequest(requestId: string, tx?: StoreTxToken): Promise<string | null | undefined> {
    const stmt = (this.partnerOfRequest ??= new HotStatement(
      this.db,
      preparedSql(
        this.db,
        PeerEntity,
        ({ table, col }) =>
          `SELECT ${col('partnerServerName')} AS partner FROM ${table} WHERE ${col('requestId')} = ? LIMIT 1`,
      ),
    ));
    const rows = tx
      ? await selectRows<{ partner: string | null }>(managerOf(this.db, tx), stmt.sql, [requestId])
      : await stmt.rows<{ partner: string | null }>([requestId]);
    const row = rows[0];
    return row ? row.partner : undefined;
  }

  async peerEpochsOfRequest(requestId: string): Promise<PeerEpochRow | null> {
    const stmt = (this.epochsOfRequest ??= new HotStatement(
      this.db,
      preparedSql(
        this.db,
        PeerEntity,
        ({ table, col }) =>
          `SELECT ${col('partnerServerName')} AS partner, ${col('dialect')} AS dialect, ` +
          `${col('secretEpochSeconds')} AS epochSeconds, ${col('secretEpochOffset')} AS epochOffset, ` +
          `${col('secretShiftAt')} AS shiftAt FROM ${table} WHERE ${col('requestId')} = ? LIMIT 1`,
      ),
    ));
    const [row] = await stmt.rows<{
      partner: string | null;
      dialect: Peer['dialect'];
      epochSeconds: number | null;
      epochOffset: number;
      // A bigint: MariaDB's driver hands it over as a string (the entity's transformer is not applied here).
      shiftAt: number | string | null;
    }>([requestId]);
    if (!row) return null;
    return {
      partnerServerName: row.partner,
      dialect: row.dialect,
      secretEpochSeconds: row.epochSeconds,
      secretEpochOffset: row.epochOffset,
      secretShiftAt: row.shiftAt === null ? null : Number(row.shiftAt),
    };
  }

  findPeerHolding(p: { name: string; prefix: string }, tx?: StoreTxToken): Promise<Peer | null> {
    return this.peers(tx).findOne({ where: [{ name: p.name }, { prefix: p.prefix }] });
  }

  async insertPeer(peer: Peer, tx?: StoreTxToken): Promise<void> {
    await exclusive(this.db, tx, () => this.peers(tx).insert(peer));
  }

  async updatePeer(id: string, patch: Partial<Peer>, tx?: StoreTxToken): Promise<boolean> {
    return changedAny(await exclusive(this.db, tx, () => this.peers(tx).update({ id }, patch)));
  }

  async updatePeerIfShiftAt(
    id: string,
    shiftAt: number | null,
    patch: Partial<Peer>,
    tx?: StoreTxToken,
  ): Promise<boolean> {
    const where: FindOptionsWhere<Peer> = { id, secretShiftAt: shiftAt === null ? IsNull() : shiftAt };
    return changedAny(await exclusive(this.db, tx, () => this.peers(tx).update(where, patch)));
  }

  async deletePeer(id: string, tx?: StoreTxToken): Promise<boolean> {
    return changedAny(await exclusive(this.db, tx, () => this.peers(tx).delete({ id })));
  }

  listOutgoing(
    filter: { state?: OutgoingRequest['state']; dialect?: OutgoingRequest['dialect'] } = {},
    tx?: StoreTxToken,
  ): Promise<OutgoingRequest[]> {
    const where: FindOptionsWhere<OutgoingRequest> = {};
    if (filter.state) where.state = filter.state;
    if (filter.dialect) where.dialect = filter.dialect;
    return this.outgoing(tx).find({ where, order: OLDEST_FIRST });
  }

  findOutgoing(id: string, tx?: StoreTxToken): Promise<OutgoingRequest | null> {
    return this.outgoing(tx).findOneBy({ id });
  }

  async insertOutgoing(row: OutgoingRequest, tx?: StoreTxToken): Promise<void> {
    await exclusive(this.db, tx, () => this.outgoing(tx).insert(row));
  }

  async updateOutgoing(
    id: string,
    patch: Partial<OutgoingRequest>,
    opts: { onlyIfPending?: boolean } = {},
    tx?: StoreTxToken,
  ): Promise<boolean> {
    return changedAny(
      await exclusive(this.db, tx, () => this.outgoing(tx).update(pendingOnly(id, opts), patch)),
    );
  }

  async deleteOutgoing(
    id: string,
    opts: { onlyIfPending?: boolean } = {},
    tx?: StoreTxToken,
  ): Promise<boolean> {
    return changedAny(await exclusive(this.db, tx, () => this.outgoing(tx).delete(pendingOnly(id, opts))));
  }

  listIncoming(
    filter: {
      state?: IncomingRequest['state'];
      partnerServerName?: string;
      createdAfter?: number;
      limit?: number;
    } = {},
    tx?: StoreTxToken,
  ): Promise<IncomingRequest[]> {
    const where: FindOptionsWhere<IncomingRequest> = {};
    if (filter.state) where.state = filter.state;
    if (filter.partnerServerName !== undefined) where.partnerServerName = filter.partnerServerName;
    if (filter.createdAfter !== undefined) where.createdAt = MoreThan(filter.createdAfter);
    return this.incoming(tx).find({ where, order: OLDEST_FIRST, take: filter.limit });
  }

  findIncoming(
    key: { id: string } | { requestId: string },
    tx?: StoreTxToken,
  ): Promise<IncomingRequest | null> {
    return this.incoming(tx).findOneBy(key);
  }

  async insertIncoming(row: IncomingRequest, tx?: StoreTxToken): Promise<void> {
    await exclusive(this.db, tx, () => this.incoming(tx).insert(row));
  }

  async holdOrigin(serverName: string, now: number, tx: StoreTxToken): Promise<void> {
    // SQLite is one process's file; its transactions already run one at a time (TypeormTransactions).
    if (this.db.options.type !== 'mariadb' && this.db.options.type !== 'mysql') return;
    // A row of rate_limit_windows (the purge drops it a minute on); its write, not a lock, is what Galera certifies.
    await managerOf(this.db, tx).query(
      'INSERT INTO `rate_limit_windows` (`limiterKey`, `windowStart`, `hits`) VALUES (?, ?, 1)' +
        ' ON DUPLICATE KEY UPDATE `windowStart` = VALUES(`windowStart`), `hits` = `hits` + 1',
      [`unsolicited:${serverName.toLowerCase()}`.slice(0, 300), now],
    );
  }

  async updateIncoming(id: string, patch: Partial<IncomingRequest>, tx?: StoreTxToken): Promise<boolean> {
    return changedAny(await exclusive(this.db, tx, () => this.incoming(tx).update({ id }, patch)));
  }

  async deleteIncoming(
    id: string,
    opts: { onlyIfPending?: boolean } = {},
    tx?: StoreTxToken,
  ): Promise<boolean> {
    return changedAny(await exclusive(this.db, tx, () => this.incoming(tx).delete(pendingOnly(id, opts))));
  }

  async refersToPartner(serverName: string, tx?: StoreTxToken): Promise<boolean> {
    const where = { partnerServerName: serverName.toLowerCase() };
    return (
      (await this.peers(tx).existsBy(where)) ||
      (await this.outgoing(tx).existsBy(where)) ||
      (await this.incoming(tx).existsBy(where))
    );
  }
}

/** The row by id; with onlyIfPending, only while it is still pending. */
function pendingOnly(id: string, opts: { onlyIfPending?: boolean }) {
  return opts.onlyIfPending ? { id, state: 'pending' as const } : { id };
}
