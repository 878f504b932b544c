import crypto from 'node:crypto';
import Database from 'better-sqlite3';
import { AmiClient } from '../src/asterisk/ami-client';
import { createLogger } from '../src/logging/logger';
import type { Peer } from '../src/store/entities';
import { seal, sealingKey } from '../src/core/key-encryption';
import type { AsteriskInstance } from '../test/harness/asterisk';
import { newPeerRow } from '../test/harness/peer-row';

/**
 * Peer rows written straight into a sidecar's SQLite database (the DB is the
 * source of truth; the Asterisk layer picks them up on the next sync), as
 * an accept would write them, for the burst and scale scenarios.
 */
export function peerRow(i: number, prefixBase: number, namePrefix: string): Peer {
  return newPeerRow({
    name: `${namePrefix}${i}`,
    prefix: String(prefixBase + i),
    partnerUrl: `http://127.0.0.1:${10000 + (i % 50000)}`,
    partnerServerName: `127.0.0.1:${10000 + (i % 50000)}`,
    partnerIaxHost: '127.0.0.1',
    // Nothing listens there: the trunks exist and are qualified, the partners just never answer.
    partnerIaxPort: 40000 + (i % 20000),
    codec: 'ulaw',
    secret: crypto.randomBytes(30).toString('base64url'),
    dialect: 'v2',
    role: 'acceptor',
  });
}

/**
 * Opens the sidecar's SQLite for writing beside the running sidecar (WAL, busy timeout).
 * With the sidecar's key-encryption secret, inserted secrets are sealed as the sidecar
 * stores them (an accept writes them sealed); without it they go in clear, like rows of a
 * version before secrets at rest, which the sidecar seals at its next start.
 */
export function openPeerTable(
  sqlitePath: string,
  opts: { keyEncryptionSecret?: string } = {},
): {
  insert(rows: Peer[]): void;
  exec(sql: string, params?: unknown[]): void;
  count(where: string): number;
  close(): void;
} {
  const db = new Database(sqlitePath, { fileMustExist: true });
  db.pragma('busy_timeout = 10000');
  // Only the columns the table has: an older build's schema (bench/compare.ts) lacks the newer ones.
  const present = new Set(
    (db.prepare('PRAGMA table_info(peers)').all() as { name: string }[]).map((c) => c.name),
  );
  const columns = Object.keys(peerRow(0, 1, 'x')).filter((c) => present.has(c));
  const stmt = db.prepare(
    `INSERT INTO peers (${columns.map((c) => `"${c}"`).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
  );
  const sealing = opts.keyEncryptionSecret === undefined ? null : sealingKey(opts.keyEncryptionSecret);
  const insertMany = db.transaction((rows: Peer[]) => {
    for (const r of rows) {
      stmt.run(
        ...columns.map((c) => {
          if (c === 'secret' && sealing) return seal(r.secret, sealing, 'peers.secret');
          const v = (r as unknown as Record<string, unknown>)[c];
          return v !== null && typeof v === 'object' ? JSON.stringify(v) : v;
        }),
      );
    }
  });
  return {
    insert: (rows) => insertMany(rows),
    exec: (sql, params = []) => void db.prepare(sql).run(...params),
    count: (where) =>
      Number((db.prepare(`SELECT COUNT(*) AS n FROM peers WHERE ${where}`).get() as { n: number }).n),
    close: () => db.close(),
  };
}

/** An AMI session of the bench's own, to watch Reload events and time reloads. */
export async function benchAmi(ast: AsteriskInstance): Promise<AmiClient> {
  const ami = new AmiClient({
    host: '127.0.0.1',
    port: ast.amiPort,
    username: ast.amiUser,
    secret: ast.amiSecret,
    logger: createLogger({ level: 'error', format: 'json', silent: true }),
    actionTimeoutMs: 60_000,
    reconnect: { initialMs: 100, maxMs: 1000 },
  });
  ami.start();
  await ami.whenConnected(15_000);
  return ami;
}
