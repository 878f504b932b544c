import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { DataSource, ValueTransformer } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
import type { Config } from '../config/schema';
import { AppError } from '../core/errors';
import {
  decryptPrivateKey,
  encryptPrivateKey,
  isEncrypted,
  isSealed,
  KeyDecryptionError,
  seal,
  sealingKey,
  unseal,
} from '../core/key-encryption';
import { SEALED } from './columns';
import { LocalKeyEntity } from './entities';
import { queuedWrite } from './write-queue';

/**
 * Secrets at rest: private keys (local_keys.privateKey, their own enc1 form
 * bound to the kid) and every sealed column (IAX2 secrets, v1 notifications)
 * are stored encrypted under one key-encryption secret:
 * UURU_KEY_ENCRYPTION_SECRET when set, else a key file generated in the data
 * folder (0600). openDatabase() resolves the secret, binds it to the sealed
 * columns of its data source (so every ORM read and write goes through it,
 * and plain-SQL readers use openSealed() below), checks it opens what is
 * stored, then encrypts any row still in clear (rows written by earlier
 * versions, which stored them in clear).
 */

export const KEY_FILE_NAME = 'key-encryption.key';
/** Where README.md explains the key file and how to move the key out of the data folder. */
export const KEY_DOCS = 'README.md#secrets-at-rest';

export type AtRestConfig = Pick<Config, 'dataDir'> & {
  federation?: Partial<Pick<Config['federation'], 'keyEncryptionSecret'>>;
};

export interface AtRestKey {
  /** The key-encryption secret (never logged). */
  readonly secret: string;
  readonly source: 'env' | 'file';
  /** The key file, when the secret came from it. */
  readonly file: string | null;
}

/** Stops the start: the stored secrets cannot be opened with this key, or the key file is unusable. */
export function keyError(message: string): AppError {
  return new AppError('FED_KEY_DECRYPT_FAILED', message);
}

/** The data folder, created 0700 when missing (an existing one is left as the admin set it). */
export function ensureDataDir(dir: string): void {
  fs.mkdirSync(path.resolve(dir), { recursive: true, mode: 0o700 });
}

/**
 * The configured secret, else the key file's (created on first use with 256
 * random bits, 0600, exclusively, so replicas sharing the folder settle on one).
 */
export function resolveAtRestKey(config: AtRestConfig): AtRestKey {
  const configured = config.federation?.keyEncryptionSecret;
  if (configured !== undefined) return { secret: configured, source: 'env', file: null };
  ensureDataDir(config.dataDir);
  const file = path.resolve(config.dataDir, KEY_FILE_NAME);
  try {
    fs.writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { flag: 'wx', mode: 0o600 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
      throw keyError(`cannot create the key file ${file}: ${(e as Error).message}`);
  }
  let secret: string;
  try {
    // A key file copied with looser rights is tightened: it opens every secret in the database.
    if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
    secret = fs.readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw keyError(`cannot read the key file ${file}: ${(e as Error).message}`);
  }
  if (secret.length < 16)
    throw keyError(`the key file ${file} is empty or damaged (fewer than 16 characters); see ${KEY_DOCS}`);
  return { secret, source: 'file', file };
}

interface Bound {
  key: AtRestKey;
  sealing: Buffer;
}

const bound = new WeakMap<DataSource, Bound>();

function boundOf(ds: DataSource): Bound {
  const b = bound.get(ds);
  if (!b)
    throw new Error('this data source was not opened by openDatabase(): it has no key-encryption secret');
  return b;
}

/** The key-encryption secret of a data source opened by openDatabase() (for LocalKeys). */
export function atRestKeyOf(ds: DataSource): AtRestKey {
  return boundOf(ds).key;
}

function contextOf(c: ColumnMetadata): string {
  return `${c.entityMetadata.tableName}.${c.databaseName}`;
}

/** A sealed value read straight from the database by a tool outside the sidecar (e.g. a test), opened with the secret. */
export function unsealStored(secret: string, table: string, column: string, stored: string): string {
  return isSealed(stored) ? unseal(stored, sealingKey(secret), `${table}.${column}`) : stored;
}

function sealedTransformer(sealing: Buffer, context: string): ValueTransformer {
  return {
    to: (v: unknown) => (v === null || v === undefined ? v : seal(String(v), sealing, context)),
    from: (v: unknown) => {
      if (v === null || v === undefined) return v;
      const stored = String(v);
      // A row still in clear (written by an earlier version after this start) reads as it is; the next start seals it.
      if (!isSealed(stored)) return stored;
      try {
        return unseal(stored, sealing, context);
      } catch (e) {
        if (e instanceof KeyDecryptionError) throw keyError(e.message);
        throw e;
      }
    },
  };
}

function isSealedColumn(c: ColumnMetadata): boolean {
  const t = c.transformer;
  return t === SEALED || (Array.isArray(t) && t.includes(SEALED));
}

/** Columns whose placeholder was replaced by bindSealedColumns(). */
const boundColumns = new WeakSet<ColumnMetadata>();

/** Whether a column is stored sealed (its reads decrypt): before or after bindSealedColumns(). */
export function isSealedColumnOf(c: ColumnMetadata): boolean {
  return boundColumns.has(c) || isSealedColumn(c);
}

/** Every sealed column of a bound data source's entities. */
function sealedColumns(ds: DataSource): ColumnMetadata[] {
  return ds.entityMetadatas.flatMap((m) => m.columns.filter((c) => boundColumns.has(c)));
}

/** Replaces the SEALED placeholders of this data source's metadata with transformers holding its key. */
export function bindSealedColumns(ds: DataSource, key: AtRestKey): void {
  const sealing = sealingKey(key.secret);
  bound.set(ds, { key, sealing });
  for (const m of ds.entityMetadatas) {
    for (const c of m.columns) {
      if (!isSealedColumn(c)) continue;
      const real = sealedTransformer(sealing, contextOf(c));
      c.transformer = Array.isArray(c.transformer)
        ? c.transformer.map((t) => (t === SEALED ? real : t))
        : real;
      boundColumns.add(c);
    }
  }
}

/**
 * For plain-SQL readers (not through the entity mapper): a function giving the
 * clear value of a sealed column, e.g. openSealed(ds, PeerEntity, 'secret').
 */
export function openSealed(
  ds: DataSource,
  target: Parameters<DataSource['getMetadata']>[0],
  property: string,
): (stored: string) => string {
  const c = ds.getMetadata(target).findColumnWithPropertyName(property);
  if (!c || !boundColumns.has(c)) throw new Error(`${property} is not a sealed column`);
  const b = boundOf(ds);
  const context = contextOf(c);
  // Every sealed value has its own random IV, so a stored text opens to one clear value for good:
  // a reader that sees the same rows again (a reconcile reads every peer's secret on every run)
  // opens each once. Bounded: past OPENED_CACHE_MAX it starts over.
  const opened = new Map<string, string>();
  return (stored: string): string => {
    if (!isSealed(stored)) return stored;
    const known = opened.get(stored);
    if (known !== undefined) return known;
    let clear: string;
    try {
      clear = unseal(stored, b.sealing, context);
    } catch (e) {
      if (e instanceof KeyDecryptionError) throw keyError(e.message);
      throw e;
    }
    if (opened.size >= OPENED_CACHE_MAX) opened.clear();
    opened.set(stored, clear);
    return clear;
  };
}

/** Values one openSealed() reader keeps opened (a few hundred bytes each). */
const OPENED_CACHE_MAX = 20_000;

type Row = Record<string, unknown>;

/**
 * Fails the start when what is stored was encrypted under another key (an
 * unset or changed UURU_KEY_ENCRYPTION_SECRET, a lost or swapped key file),
 * before anything is written with the wrong one. Checks one sealed value and
 * one private key.
 */
async function checkKeyOpensStore(ds: DataSource, b: Bound): Promise<void> {
  const esc = (n: string) => ds.driver.escape(n);
  const hint =
    b.key.source === 'env'
      ? 'UURU_KEY_ENCRYPTION_SECRET is not the secret they were stored with'
      : `no UURU_KEY_ENCRYPTION_SECRET is set and the key file ${b.key.file} is not the key they were stored with (was the secret unset, or the key file replaced?)`;
  for (const c of sealedColumns(ds)) {
    const table = esc(c.entityMetadata.tableName);
    const col = esc(c.databaseName);
    const rows = (await ds.query(
      `SELECT ${col} AS v FROM ${table} WHERE ${col} LIKE 'enc:v1:%' LIMIT 1`,
    )) as Row[];
    if (rows.length === 0) continue;
    try {
      unseal(String(rows[0].v), b.sealing, contextOf(c));
    } catch {
      throw keyError(`cannot decrypt the secrets stored in the database: ${hint}; see ${KEY_DOCS}`);
    }
    break;
  }
  const keys = ds.getMetadata(LocalKeyEntity);
  const col = (p: string) => esc(keys.findColumnWithPropertyName(p)?.databaseName ?? p);
  const rows = (await ds.query(
    `SELECT ${col('kid')} AS kid, ${col('alg')} AS alg, ${col('privateKey')} AS pk FROM ${esc(keys.tableName)} WHERE ${col('privateKey')} LIKE 'enc1$%' LIMIT 1`,
  )) as Row[];
  if (rows.length === 0) return;
  try {
    decryptPrivateKey(String(rows[0].pk), b.key.secret, String(rows[0].kid), String(rows[0].alg));
  } catch {
    throw keyError(`cannot decrypt the private keys stored in the database: ${hint}; see ${KEY_DOCS}`);
  }
}

/** Encrypts every secret still stored in clear; returns how many values it encrypted. Idempotent. */
async function sealClearRows(ds: DataSource, b: Bound): Promise<number> {
  const esc = (n: string) => ds.driver.escape(n);
  let n = 0;
  for (const c of sealedColumns(ds)) {
    const meta = c.entityMetadata;
    const table = esc(meta.tableName);
    const col = esc(c.databaseName);
    const pks = meta.primaryColumns.map((p) => p.databaseName);
    const rows = (await ds.query(
      `SELECT ${pks.map((p) => `${esc(p)} AS ${esc(p)}`).join(', ')}, ${col} AS v FROM ${table} WHERE ${col} IS NOT NULL AND ${col} NOT LIKE 'enc:v1:%'`,
    )) as Row[];
    const where = pks.map((p) => `${esc(p)} = ?`).join(' AND ');
    for (const r of rows) {
      // The guard on the old value keeps a concurrent writer's newer value (replicas starting together).
      const sealedValue = seal(String(r.v), b.sealing, contextOf(c));
      await queuedWrite(ds, () =>
        ds.query(`UPDATE ${table} SET ${col} = ? WHERE ${where} AND ${col} = ?`, [
          sealedValue,
          ...pks.map((p) => r[p]),
          r.v,
        ]),
      );
      n++;
    }
  }
  const keys = ds.getMetadata(LocalKeyEntity);
  const kcol = (p: string) => esc(keys.findColumnWithPropertyName(p)?.databaseName ?? p);
  const plain = (await ds.query(
    `SELECT ${kcol('kid')} AS kid, ${kcol('alg')} AS alg, ${kcol('privateKey')} AS pk FROM ${esc(keys.tableName)} WHERE ${kcol('privateKey')} <> '' AND ${kcol('privateKey')} NOT LIKE 'enc1$%'`,
  )) as Row[];
  for (const r of plain) {
    const pk = String(r.pk);
    if (isEncrypted(pk)) continue;
    const sealed = encryptPrivateKey(Buffer.from(pk, 'base64'), b.key.secret, String(r.kid), String(r.alg));
    await queuedWrite(ds, () =>
      ds.query(
        `UPDATE ${esc(keys.tableName)} SET ${kcol('privateKey')} = ? WHERE ${kcol('kid')} = ? AND ${kcol('privateKey')} = ?`,
        [sealed, r.kid, pk],
      ),
    );
    n++;
  }
  return n;
}

/** Binds the key to the data source, checks it opens what is stored, and encrypts what is still in clear. */
export async function secureStore(ds: DataSource, key: AtRestKey): Promise<{ sealed: number }> {
  bindSealedColumns(ds, key);
  const b = boundOf(ds);
  await checkKeyOpensStore(ds, b);
  const sealed = await sealClearRows(ds, b);
  // The clear values' old pages also sit in SQLite's WAL until a checkpoint: copy them into the file
  // (where secure_delete zeroed the freed cells) and empty the WAL.
  if (sealed > 0 && ds.options.type === 'better-sqlite3') await ds.query('PRAGMA wal_checkpoint(TRUNCATE)');
  return { sealed };
}

/**
 * The SQLite file (created empty here when missing, so it never exists with
 * the umask's rights) and any WAL/SHM file left by an earlier run: 0600.
 * SQLite creates new WAL/SHM files with the database file's rights.
 */
export function restrictSqliteFiles(file: string): void {
  const db = path.resolve(file);
  fs.closeSync(fs.openSync(db, 'a', 0o600));
  for (const f of [db, `${db}-wal`, `${db}-shm`]) {
    let mode: number;
    try {
      mode = fs.statSync(f).mode;
    } catch {
      continue;
    }
    if ((mode & 0o077) !== 0) fs.chmodSync(f, mode & 0o700);
  }
}
