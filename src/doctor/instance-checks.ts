import fs from 'node:fs';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import type { Config } from '../config/schema';
import type { CheckResult } from '../core/diagnostics';
import {
  CHARSET,
  conversionStatements,
  inspectCharset,
  isMysqlFamily,
  ownTableNames,
} from '../store/charset';
import { atRestKeyOf, KEY_DOCS } from '../store/secrets-at-rest';
import { check } from './check';

/** The sidecar's own footing: its database, the data folder's rights, and where the key-encryption key lives. */

const QUERY_TIMEOUT_MS = 5000;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function describeDatabase(config: Config): string {
  const d = config.database;
  if (d.type === 'sqlite')
    return `SQLite ${d.sqlitePath ?? path.join(config.dataDir, 'uuru-federation.sqlite')}`;
  return `${d.type} ${d.database} at ${d.socketPath ?? `${d.host}:${d.port}`} as ${d.user}`;
}

export async function databaseChecks(config: Config, db: DataSource): Promise<CheckResult[]> {
  const title = 'Database reachable';
  const where = describeDatabase(config);
  try {
    await withTimeout(db.query('SELECT 1'), QUERY_TIMEOUT_MS, 'SELECT 1');
  } catch (e) {
    return [
      check(
        'database',
        title,
        'fail',
        `${where}: ${(e as Error).message}`,
        'Start the database server or fix UURU_DATABASE_* (host, port, socket, user, password); the sidecar reconnects by itself.',
      ),
      check('database.charset', 'Database character set', 'skip', 'needs the database'),
    ];
  }
  const out = [check('database', title, 'ok', where)];
  const csTitle = 'Database character set';
  if (!isMysqlFamily(db)) {
    out.push(check('database.charset', csTitle, 'ok', 'SQLite stores all text as UTF-8'));
    return out;
  }
  const report = await withTimeout(
    inspectCharset(db, ownTableNames(db)),
    QUERY_TIMEOUT_MS,
    'the charset query',
  );
  const statements = conversionStatements(report);
  out.push(
    statements.length === 0
      ? check(
          'database.charset',
          csTitle,
          'ok',
          `database ${report.database} and every table of ours use ${CHARSET}`,
        )
      : check(
          'database.charset',
          csTitle,
          'fail',
          `database ${report.database}: default ${report.databaseCharset}; ${report.narrowTables.length} table(s) and ${report.narrowColumns.length} column(s) not in ${CHARSET}`,
          `Convert them (names and partner texts need ${CHARSET}): ${statements.join('; ')};`,
        ),
  );
  return out;
}

/** Group or other access bits of a path, or null when it does not exist. */
function looseBits(file: string): { mode: number; loose: number } | null {
  try {
    const mode = fs.statSync(file).mode & 0o777;
    return { mode, loose: mode & 0o077 };
  } catch {
    return null;
  }
}

const octal = (m: number) => `0${m.toString(8).padStart(3, '0')}`;

export function fileChecks(config: Config, db: DataSource): CheckResult[] {
  const out: CheckResult[] = [];
  const dir = path.resolve(config.dataDir);
  const d = looseBits(dir);
  const sqlite =
    config.database.type === 'sqlite'
      ? path.resolve(config.database.sqlitePath ?? path.join(config.dataDir, 'uuru-federation.sqlite'))
      : null;
  const s = sqlite ? looseBits(sqlite) : null;
  const problems: string[] = [];
  const fixes: string[] = [];
  if (d === null) problems.push(`the data folder ${dir} does not exist`);
  else if (d.loose) {
    problems.push(`the data folder ${dir} is ${octal(d.mode)} (others than the sidecar's user may enter it)`);
    fixes.push(`chmod 700 ${dir}`);
  }
  if (sqlite && s?.loose) {
    problems.push(`the database file ${sqlite} is ${octal(s.mode)}`);
    fixes.push(`chmod 600 ${sqlite}`);
  }
  out.push(
    problems.length === 0
      ? check(
          'files.modes',
          'Data folder rights',
          'ok',
          `${dir} is ${d ? octal(d.mode) : '?'}${sqlite && s ? `, ${path.basename(sqlite)} is ${octal(s.mode)}` : ''}`,
        )
      : check(
          'files.modes',
          'Data folder rights',
          'warn',
          problems.join('; '),
          fixes.length ? fixes.join(' && ') : null,
        ),
  );

  const key = atRestKeyOf(db);
  const keyTitle = 'Key encryption at rest';
  if (key.source === 'env') {
    out.push(
      check(
        'key-encryption',
        keyTitle,
        'ok',
        'private keys and IAX2 secrets are encrypted with UURU_KEY_ENCRYPTION_SECRET, kept outside the data folder',
      ),
    );
  } else {
    const file = key.file ?? path.join(dir, 'key-encryption.key');
    const k = looseBits(file);
    if (k?.loose) {
      out.push(
        check(
          'key-encryption',
          keyTitle,
          'fail',
          `the key file ${file} is ${octal(k.mode)}: other users can read the key that opens every stored secret`,
          `chmod 600 ${file}; then move the key out of the data folder (UURU_KEY_ENCRYPTION_SECRET, see ${KEY_DOCS})`,
        ),
      );
    } else {
      out.push(
        check(
          'key-encryption',
          keyTitle,
          'warn',
          `no UURU_KEY_ENCRYPTION_SECRET: the secrets are encrypted with the key file ${file}, which lies beside the data, so a copy of the data folder opens them`,
          `Keep the key elsewhere: set UURU_KEY_ENCRYPTION_SECRET (see ${KEY_DOCS} for moving the key file's value there).`,
        ),
      );
    }
  }
  return out;
}
