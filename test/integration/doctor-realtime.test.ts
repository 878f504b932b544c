import fs from 'node:fs';
import path from 'node:path';
import mysql from 'mysql2/promise';
import {
  type AsteriskInstance,
  createRealtimeTables,
  type RealtimeDb,
  startAsterisk,
} from '../harness/asterisk';
import { type MariaDbServer, startMariaDb, testDatabaseName } from '../harness/mariadb';
import { destroyAll, type Sidecar, startSidecar } from '../harness/sidecar';

/**
 * The doctor with the realtime backend and a MariaDB store: a real Asterisk
 * reading its peers and dial plan from MariaDB (asterisk-conf/ snippets as
 * given), a real sidecar on MariaDB. Its realtime checks pass; a table of the
 * sidecar's converted to latin1 behind its back fails the charset check with
 * the statement that converts it back.
 */

const CONF = path.resolve(__dirname, '..', '..', 'asterisk-conf');
const STATIC_DIALPLAN = fs.readFileSync(path.join(CONF, 'extensions-realtime.conf'), 'utf8');
const SCHEMA_ADDITIONS = fs.readFileSync(path.join(CONF, 'realtime-iaxfriends.sql'), 'utf8');

interface Check {
  id: string;
  status: string;
  detail: string;
  fix: string | null;
}

let server: MariaDbServer;
let rtDb: RealtimeDb;
let ast: AsteriskInstance;
let s: Sidecar;

beforeAll(async () => {
  server = await startMariaDb();
  rtDb = {
    host: server.host,
    port: server.port,
    user: server.user,
    password: server.password,
    database: testDatabaseName('doc_rt'),
  };
  await server.createDatabase(rtDb.database);
  await createRealtimeTables(rtDb);
  const conn = await mysql.createConnection({ ...rtDb, multipleStatements: true });
  await conn.query(SCHEMA_ADDITIONS);
  await conn.end();
  ast = await startAsterisk({ name: 'docrt', realtime: rtDb, extensionsConf: STATIC_DIALPLAN });
  s = await startSidecar({
    name: 'doc_rt',
    db: 'mariadb',
    config: {
      asterisk: {
        ami: { host: '127.0.0.1', port: ast.amiPort, user: ast.amiUser, password: ast.amiSecret },
        ari: { url: ast.ariUrl, user: ast.ariUser, password: ast.ariPassword, app: 'uuru-federation' },
        stateBackend: 'realtime',
        realtimeDb: rtDb,
        localContext: 'uuru-local',
      },
    },
    env: { UURU_ASTERISK_ENABLED: 'true', UURU_LOGLEVEL: 'warn' },
  });
}, 180_000);

afterAll(async () => {
  await destroyAll([s]);
  await ast?.stop();
  if (rtDb) await server?.dropDatabase(rtDb.database).catch(() => undefined);
});

async function checks(): Promise<Check[]> {
  const r = await s.admin('GET', '/doctor');
  expect(r.status).toBe(200);
  return (r.json as { checks: Check[] }).checks;
}

it('realtime: modules, extconfig, the switch contexts, the phones context and the MariaDB charset are ok', async () => {
  const all = await checks();
  const status = (id: string) => all.find((c) => c.id === id)?.status;
  expect(status('asterisk.modules')).toBe('ok');
  expect(all.find((c) => c.id === 'asterisk.modules')?.detail).toContain('res_config_mysql.so running');
  expect(status('asterisk.realtime.extconfig')).toBe('ok');
  expect(status('asterisk.realtime.switches')).toBe('ok');
  expect(status('asterisk.phones-context')).toBe('ok');
  expect(status('database')).toBe('ok');
  expect(status('database.charset')).toBe('ok');
  // The files backend's checks do not apply.
  expect(all.some((c) => c.id.startsWith('asterisk.include.') || c.id === 'asterisk.generated-files')).toBe(
    false,
  );
});

it('a table of ours converted to latin1 behind the sidecar fails the charset check with the statement to run', async () => {
  await s.query('ALTER TABLE {db}.nonces CONVERT TO CHARACTER SET latin1 COLLATE latin1_swedish_ci');
  const charset = (await checks()).find((c) => c.id === 'database.charset');
  expect(charset?.status).toBe('fail');
  expect(charset?.fix).toContain(
    'ALTER TABLE `nonces` CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci',
  );
});
