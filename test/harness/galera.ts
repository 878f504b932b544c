/**
 * A real 3-node MariaDB Galera cluster on 127.0.0.1 for tests (Debian's
 * `mariadb-server` and `galera-4`; facts: shared/specs/galera.md). Each node
 * has its own data dir, SQL port, socket, pid, error log and the three
 * Galera ports (group communication, IST, SST), and starts with
 * `--defaults-file` so nothing of /etc/mysql is read. Node 1 bootstraps the
 * cluster, nodes 2 and 3 join one after the other (a full rsync copy each);
 * the harness waits for `Synced` between them.
 *
 * kill(i) SIGKILLs a node by its pid (recorded at launch: mariadbd writes its
 * pid file late); restart(i) waits until the others dropped it, recovers its
 * position (`--wsrep-recover`) and starts it with `--wsrep-start-position`,
 * so it rejoins by IST instead of a full copy. stop() stops 3, 2, 1 and
 * deletes everything.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensureInstalled, makeServer, type MariaDbServer } from './mariadb';
import { freePort } from './ports';
import { killPid, stopPid, tailFile } from './processes';
import { waitUntil } from './wait';

const PROVIDER = '/usr/lib/galera/libgalera_smm.so';
const HOST = '127.0.0.1';

export interface GaleraNode {
  index: number;
  port: number;
  /** Null while the node is down. */
  pid: number | null;
  dir: string;
  errorLog: string;
  /** SQL on this node (pooled; survives a restart of the node). */
  server: MariaDbServer;
}

export interface GaleraCluster {
  nodes: GaleraNode[];
  user: string;
  password: string;
  /** SIGKILL node i (0-based). */
  kill(i: number): Promise<void>;
  /** Starts node i again after kill(); resolves once it is Synced. */
  restart(i: number): Promise<void>;
  /** wsrep_cluster_size as node i sees it. */
  clusterSize(i: number): Promise<number>;
  stop(): Promise<void>;
}

interface Ports {
  sql: number;
  gcomm: number;
  ist: number;
  sst: number;
}

export async function startGaleraCluster(opts: { nodes?: number } = {}): Promise<GaleraCluster> {
  if (!fs.existsSync(PROVIDER))
    throw new Error(`${PROVIDER} is missing: install galera-4 (scripts/setup-system.sh)`);
  const { mariadbd, installDb } = ensureInstalled();
  const count = opts.nodes ?? 3;
  const baseDir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-galera-'));
  // The nodes run as mysql (the joiner's rsync daemon drops root's rights): everything below is theirs.
  const owner = mysqlUser();
  fs.chmodSync(baseDir, 0o755);
  const user = 'uuru_test';
  const password = crypto.randomBytes(12).toString('hex');
  const ports: Ports[] = [];
  for (let i = 0; i < count; i++) {
    ports.push({
      sql: await freePort(),
      gcomm: await freePort(),
      ist: await freePort(),
      sst: await freePort(),
    });
  }
  const address = `gcomm://${ports.map((p) => `${HOST}:${p.gcomm}`).join(',')}`;
  const children = new Map<number, ChildProcess>();

  const nodes: GaleraNode[] = ports.map((p, i) => {
    const dir = path.join(baseDir, `node${i + 1}`);
    fs.mkdirSync(dir);
    const cnf = [
      '[mariadbd]',
      `datadir=${path.join(dir, 'data')}`,
      `port=${p.sql}`,
      `bind-address=${HOST}`,
      `socket=${path.join(dir, 'mysqld.sock')}`,
      `pid-file=${path.join(dir, 'mysqld.pid')}`,
      `log-error=${path.join(dir, 'error.log')}`,
      'user=mysql',
      'skip-name-resolve',
      'character-set-server=utf8mb4',
      'collation-server=utf8mb4_general_ci',
      'max-connections=300',
      'innodb_buffer_pool_size=64M',
      'innodb_log_file_size=16M',
      'innodb_flush_log_at_trx_commit=2',
      'binlog_format=ROW',
      'innodb_autoinc_lock_mode=2',
      'wsrep_on=ON',
      `wsrep_provider=${PROVIDER}`,
      `wsrep_cluster_address=${address}`,
      `wsrep_node_address=${HOST}:${p.gcomm}`,
      'wsrep_cluster_name=uuru_test',
      'wsrep_sst_method=rsync',
      `wsrep_sst_receive_address=${HOST}:${p.sst}`,
      // Short failure detection: a killed node is dropped in about 3 s instead of 6.
      `wsrep_provider_options="gmcast.listen_addr=tcp://${HOST}:${p.gcomm};ist.recv_addr=${HOST}:${p.ist};gcache.size=64M;` +
        'evs.suspect_timeout=PT2S;evs.inactive_timeout=PT3S;evs.inactive_check_period=PT0.5S;evs.keepalive_period=PT0.5S"',
      '',
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'my.cnf'), cnf);
    fs.chownSync(dir, owner.uid, owner.gid);
    return {
      index: i,
      port: p.sql,
      pid: null,
      dir,
      errorLog: path.join(dir, 'error.log'),
      server: makeServer({ host: HOST, port: p.sql, user, password }, null),
    };
  });
  const cnfOf = (n: GaleraNode) => path.join(n.dir, 'my.cnf');

  const launch = (n: GaleraNode, extra: string[]): void => {
    const child = spawn(mariadbd, [`--defaults-file=${cnfOf(n)}`, ...extra], { stdio: 'ignore' });
    child.unref();
    if (!child.pid) throw new Error(`galera node ${n.index + 1} did not start`);
    n.pid = child.pid;
    children.set(n.index, child);
  };
  const state = async (n: GaleraNode): Promise<string> => {
    const rows = await n.server.query<{ Value: string }[]>("SHOW STATUS LIKE 'wsrep_local_state_comment'");
    return rows[0]?.Value ?? '';
  };
  const synced = (n: GaleraNode, timeoutMs: number) =>
    waitUntil(async () => (await state(n).catch(() => '')) === 'Synced', {
      what: `galera node ${n.index + 1} Synced`,
      timeoutMs,
      intervalMs: 300,
      abort: () => {
        const c = children.get(n.index);
        return c && c.exitCode !== null ? `exited with ${c.exitCode}:\n${tailFile(n.errorLog)}` : null;
      },
    });
  const clusterSize = async (i: number): Promise<number> => {
    const rows = await nodes[i].server.query<{ Value: string }[]>("SHOW STATUS LIKE 'wsrep_cluster_size'");
    return Number(rows[0]?.Value ?? 0);
  };

  const stopNode = async (n: GaleraNode) => {
    await n.server.stop();
    if (n.pid) await stopPid(n.pid, { child: children.get(n.index), graceMs: 20_000 });
    n.pid = null;
  };
  const stop = async () => {
    for (const n of [...nodes].reverse()) await stopNode(n).catch(() => undefined);
    fs.rmSync(baseDir, { recursive: true, force: true });
  };

  try {
    for (const n of nodes) {
      execFileSync(
        installDb,
        [`--defaults-file=${cnfOf(n)}`, '--auth-root-authentication-method=socket', '--skip-test-db'],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
          timeout: 120_000,
        },
      );
    }
    // The user is made on node 1 before it answers; the joiners get it with their state transfer.
    const initFile = path.join(baseDir, 'init.sql');
    fs.writeFileSync(
      initFile,
      [
        `CREATE USER IF NOT EXISTS '${user}'@'%' IDENTIFIED BY '${password}';`,
        `GRANT ALL PRIVILEGES ON *.* TO '${user}'@'%' WITH GRANT OPTION;`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    fs.chownSync(initFile, owner.uid, owner.gid);
    launch(nodes[0], ['--wsrep-new-cluster', `--init-file=${initFile}`]);
    await synced(nodes[0], 60_000);
    for (const n of nodes.slice(1)) {
      launch(n, []);
      await synced(n, 90_000);
    }
  } catch (e) {
    const logs = nodes.map((n) => `node ${n.index + 1}:\n${problemsIn(n.errorLog)}`).join('\n');
    await stop();
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n${logs}`, { cause: e });
  }

  return {
    nodes,
    user,
    password,
    clusterSize,
    async kill(i) {
      const n = nodes[i];
      if (!n.pid) return;
      await killPid(n.pid, children.get(i));
      n.pid = null;
    },
    async restart(i) {
      const n = nodes[i];
      if (n.pid) throw new Error(`galera node ${i + 1} is running`);
      // Rejoining before the others dropped it takes about 18 s instead of 5.
      const other = nodes.find((x) => x.pid !== null);
      if (other) {
        await waitUntil(async () => (await clusterSize(other.index).catch(() => count)) < count, {
          what: `galera node ${i + 1} dropped by the cluster`,
          timeoutMs: 30_000,
          intervalMs: 300,
        });
      }
      const { stderr } = await promisify(execFile)(
        mariadbd,
        [`--defaults-file=${cnfOf(n)}`, '--wsrep-recover', `--log-error=${path.join(n.dir, 'recover.log')}`],
        { timeout: 60_000 },
      ).catch((e: { stderr?: string }) => ({ stderr: e.stderr ?? '' }));
      const log = `${stderr}\n${tailFile(path.join(n.dir, 'recover.log'), 200)}`;
      const m = /Recovered position:\s*([0-9a-f-]+:-?\d+)/.exec(log);
      launch(n, m ? [`--wsrep-start-position=${m[1]}`] : []);
      await synced(n, 90_000);
    },
    stop,
  };
}

/** The error and state-transfer lines of a node's log (the last 30), for a failed start. */
function problemsIn(file: string): string {
  return tailFile(file, 2000)
    .split('\n')
    .filter((l) => /ERROR|WSREP_SST|rsync|Warning/.test(l))
    .slice(-30)
    .join('\n');
}

/** The mysql account's ids (Debian's mariadb-server makes it). */
function mysqlUser(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'mysql']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'mysql']).toString().trim());
  if (!Number.isInteger(uid) || !Number.isInteger(gid))
    throw new Error('no mysql account (install mariadb-server)');
  return { uid, gid };
}
