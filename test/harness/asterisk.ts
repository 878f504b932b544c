/**
 * Real Asterisk 22 instances for tests.
 *
 * By default each instance runs from the cached Debian sid chroot built by
 * scripts/setup-system.sh (`chroot <dir> /usr/sbin/asterisk -C ... -f`), with
 * its own folder inside the chroot (etc, run, log, spool, db, keys) and its own
 * free 127.0.0.1 ports for AMI, HTTP/ARI and IAX2. With `standardIaxPort`
 * IAX2 binds 4569 instead, at a loopback address of its own (127.x.y.z), as
 * an instance peering with stock µURU (v1, no port carried) must.
 *
 * Environment variables:
 *   UURU_TEST_ASTERISK_CHROOT    the chroot (default ~/.cache/uuru-federation/asterisk-sid)
 *   UURU_TEST_ASTERISK_BINARY    an asterisk binary on this machine to use instead of the
 *                                chroot (for machines with their own Asterisk 22, no root
 *                                needed); instance folders then go under the OS temp dir
 *   UURU_TEST_ASTERISK_MODDIR    its module dir (default: the first of the usual paths that exists)
 *   UURU_TEST_ASTERISK_DATADIR   its data dir (default /usr/share/asterisk or /var/lib/asterisk)
 *   UURU_TEST_KEEP_ASTERISK=1    keep instance folders after stop (for debugging)
 * Every instance's messages log is copied to test-artifacts/asterisk/<id>.log when
 * it stops, so the log of a failed test is there to read.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freeLoopbackAddress, freePort, freeUdpPort, STANDARD_IAX2_PORT } from './ports';
import { killPid, pidAlive, pidCommandLine, stopPid, tailFile } from './processes';
import { waitUntil } from './wait';

/** Context and extension of the Echo test line every instance has. */
export const TEST_CONTEXT = 'uuru-test';
export const ECHO_EXTEN = '1234';

export interface RealtimeDb {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

export interface StartAsteriskOptions {
  /** Readable prefix of the instance id (e.g. 'a', 'b'). */
  name?: string;
  /** Extra lines for iax.conf's [general] section. */
  iaxGeneral?: string | string[];
  /** Extra iax.conf text after [general] (e.g. hand-written peers), before the sidecar's #tryinclude. */
  iaxConf?: string;
  /** Extra extensions.conf text, before the sidecar's #tryinclude. */
  extensionsConf?: string;
  /** Configure res_config_mysql + extconfig for iaxfriends and extensions in this database. */
  realtime?: RealtimeDb;
  /** IAX2 UDP port to use (e.g. allocated with freeUdpPort() so that another instance's peer can point here first). */
  iaxPort?: number;
  /**
   * Bind IAX2 on the standard port 4569 at a loopback address of its own
   * (freeLoopbackAddress), instead of a random port on 127.0.0.1: v1 carries
   * no port, so a v1 peering with real calls needs both Asterisks on 4569.
   */
  standardIaxPort?: boolean;
  bootTimeoutMs?: number;
  /** Leave out the sidecar's #tryinclude line from iax.conf and/or extensions.conf (an admin who forgot it). */
  omitTryinclude?: ('iax' | 'extensions')[];
}

export interface AsteriskInstance {
  id: string;
  pid: number;
  amiPort: number;
  httpPort: number;
  /** The address IAX2 is bound to (and partners reach it at): 127.0.0.1, or its own with standardIaxPort. */
  iaxHost: string;
  iaxPort: number;
  amiUser: string;
  amiSecret: string;
  /** Base URL of ARI, e.g. http://127.0.0.1:PORT/ari */
  ariUrl: string;
  ariUser: string;
  ariPassword: string;
  /** Host path of the instance's etc dir: where the sidecar writes its generated files. */
  configDir: string;
  /** Host path of the messages log. */
  logFile: string;
  /** Milliseconds the last start took until FullyBooted. */
  bootMs: number;
  /** Runs `asterisk -rx <cmd>` against this instance and returns its output. */
  cli(cmd: string): Promise<string>;
  /** Stops and starts again on the same ports and folder. */
  restart(): Promise<void>;
  /** SIGTERM, SIGKILL after a grace period; copies the log and removes the folder. */
  stop(): Promise<void>;
  /** SIGKILL without cleanup, for fault tests (call start() or stop() afterwards). */
  kill(): Promise<void>;
  /** Graceful stop (SIGTERM, SIGKILL after a grace period) that keeps the folder, so start() can follow. */
  halt(): Promise<void>;
  /** Starts a killed or halted instance again on the same ports and folder (restarts it when running). */
  start(): Promise<void>;
  readonly running: boolean;
}

interface Runtime {
  /** Host dir that is "/" for Asterisk, or null for a host binary. */
  chroot: string | null;
  binary: string;
  moduleDir: string;
  dataDir: string;
  /** Root of instance folders, as Asterisk sees it. */
  innerBase: string;
}

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const ARTIFACT_DIR = path.join(REPO_ROOT, 'test-artifacts', 'asterisk');

/** The chroot scripts/setup-system.sh builds: the same variables, the same defaults. */
export function defaultChrootDir(): string {
  return (
    process.env.UURU_TEST_ASTERISK_CHROOT ??
    path.join(
      process.env.UURU_TEST_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'uuru-federation'),
      'asterisk-sid',
    )
  );
}

/** Folder for this test run's instances; global setup sets UURU_TEST_RUN_ID so teardown can find leftovers. */
export function runId(): string {
  return process.env.UURU_TEST_RUN_ID ?? `run-${process.pid}`;
}

function firstExisting(candidates: string[]): string | null {
  return candidates.find((c) => fs.existsSync(c)) ?? null;
}

function resolveRuntime(): Runtime {
  const binary = process.env.UURU_TEST_ASTERISK_BINARY;
  if (binary) {
    if (!fs.existsSync(binary)) throw new Error(`UURU_TEST_ASTERISK_BINARY=${binary} does not exist`);
    const moduleDir =
      process.env.UURU_TEST_ASTERISK_MODDIR ??
      firstExisting([
        '/usr/lib/x86_64-linux-gnu/asterisk/modules',
        '/usr/lib/aarch64-linux-gnu/asterisk/modules',
        '/usr/lib/asterisk/modules',
        '/usr/lib64/asterisk/modules',
        '/usr/local/lib/asterisk/modules',
      ]);
    if (!moduleDir) throw new Error('Asterisk module dir not found: set UURU_TEST_ASTERISK_MODDIR');
    const dataDir =
      process.env.UURU_TEST_ASTERISK_DATADIR ??
      firstExisting(['/usr/share/asterisk', '/var/lib/asterisk', '/usr/local/share/asterisk']) ??
      '/var/lib/asterisk';
    return { chroot: null, binary, moduleDir, dataDir, innerBase: path.join(os.tmpdir(), 'uuru-asterisk') };
  }
  const chroot = defaultChrootDir();
  if (!fs.existsSync(path.join(chroot, 'usr/sbin/asterisk'))) {
    throw new Error(
      `no Asterisk chroot at ${chroot}: run "bash scripts/setup-system.sh" as root, ` +
        'or set UURU_TEST_ASTERISK_BINARY to an Asterisk 22 binary',
    );
  }
  const libDirs = fs
    .readdirSync(path.join(chroot, 'usr/lib'))
    .map((d) => `/usr/lib/${d}/asterisk/modules`)
    .concat(['/usr/lib/asterisk/modules']);
  const moduleDir = libDirs.find((d) => fs.existsSync(path.join(chroot, d)));
  if (!moduleDir) throw new Error(`no Asterisk module dir inside ${chroot}`);
  return {
    chroot,
    binary: '/usr/sbin/asterisk',
    moduleDir,
    dataDir: '/usr/share/asterisk',
    innerBase: '/var/tmp/uuru-test',
  };
}

/** Modules that are not needed here and slow boot down or fail without hardware/config. */
const NOLOAD_PATTERNS = [
  /^chan_pjsip\.so$/,
  /^res_pjsip.*\.so$/,
  /^res_pjproject\.so$/,
  /^func_pjsip_.*\.so$/,
  /^res_hep.*\.so$/,
  /^res_geolocation\.so$/,
  /^res_stir_shaken\.so$/,
  /^chan_(dahdi|mobile|console|alsa|oss|unistim|motif|skinny|mgcp|ooh323|audiosocket)\.so$/,
  /^res_xmpp\.so$/,
  /^res_calendar.*\.so$/,
  /^res_config_(ldap|pgsql|odbc|sqlite3|curl)\.so$/,
  /^res_odbc.*\.so$/,
  /^(cdr|cel)_.*\.so$/,
  /^res_(snmp|corosync|smdi|statsd|prometheus|phoneprov|aeap|speech_aeap)\.so$/,
  /^app_(voicemail.*|minivm|jack|festival)\.so$/,
  /^res_fax.*\.so$/,
  /^pbx_(lua|ael|dundi)\.so$/,
  /^res_resolver_unbound\.so$/,
  /^res_stun_monitor\.so$/,
  // Need config files or pjproject we do not provide; IAX2 and ARI work without them.
  /^res_rtp_(asterisk|multicast)\.so$/,
  /^chan_rtp\.so$/,
  /^func_odbc\.so$/,
  /^res_(parking|clialiases|http_media_cache|adsi)\.so$/,
  /^app_(agent_pool|confbridge|page|alarmreceiver|amd|followme|queue|adsiprog|getcpeid)\.so$/,
];

function modulesConf(rt: Runtime, realtime: boolean): string {
  const hostModDir = rt.chroot ? path.join(rt.chroot, rt.moduleDir) : rt.moduleDir;
  const all = fs.readdirSync(hostModDir).filter((f) => f.endsWith('.so'));
  const noload = all.filter((m) => NOLOAD_PATTERNS.some((p) => p.test(m)));
  if (!realtime) noload.push('res_config_mysql.so');
  return ['[modules]', 'autoload=yes', ...noload.map((m) => `noload => ${m}`), ''].join('\n');
}

function lines(v: string | string[] | undefined): string {
  if (v === undefined) return '';
  return (Array.isArray(v) ? v.join('\n') : v) + '\n';
}

interface Layout {
  id: string;
  inner: string;
  host: string;
}

function writeConfigs(
  rt: Runtime,
  layout: Layout,
  ports: { ami: number; http: number; iax: number; iaxHost: string },
  creds: { amiUser: string; amiSecret: string; ariUser: string; ariPassword: string },
  opts: StartAsteriskOptions,
): void {
  const etc = path.join(layout.host, 'etc');
  for (const d of ['etc', 'run', 'log', 'spool', 'db', 'keys', 'lib', 'agi', 'cache']) {
    fs.mkdirSync(path.join(layout.host, d), { recursive: true });
  }
  const i = (d: string) => path.join(layout.inner, d);
  const files: Record<string, string> = {
    'asterisk.conf': [
      '[directories]',
      `astetcdir => ${i('etc')}`,
      `astmoddir => ${rt.moduleDir}`,
      `astvarlibdir => ${i('lib')}`,
      `astdbdir => ${i('db')}`,
      `astkeydir => ${layout.inner}` /* Asterisk appends /keys */,
      `astdatadir => ${rt.dataDir}`,
      `astagidir => ${i('agi')}`,
      `astspooldir => ${i('spool')}`,
      `astrundir => ${i('run')}`,
      `astlogdir => ${i('log')}`,
      `astcachedir => ${i('cache')}`,
      '[options]',
      'verbose = 3',
      'debug = 0',
      'hideconnect = yes',
      'transmit_silence = no',
      'cache_record_files = no',
      '',
    ].join('\n'),
    'modules.conf': modulesConf(rt, opts.realtime !== undefined),
    'manager.conf': [
      '[general]',
      'enabled = yes',
      `port = ${ports.ami}`,
      'bindaddr = 127.0.0.1',
      'displayconnects = no',
      '',
      `[${creds.amiUser}]`,
      `secret = ${creds.amiSecret}`,
      'deny = 0.0.0.0/0.0.0.0',
      'permit = 127.0.0.1/255.255.255.255',
      'read = all',
      'write = all',
      '',
    ].join('\n'),
    'http.conf': ['[general]', 'enabled = yes', 'bindaddr = 127.0.0.1', `bindport = ${ports.http}`, ''].join(
      '\n',
    ),
    'ari.conf': [
      '[general]',
      'enabled = yes',
      '',
      `[${creds.ariUser}]`,
      'type = user',
      'read_only = no',
      `password = ${creds.ariPassword}`,
      '',
    ].join('\n'),
    'logger.conf': [
      '[general]',
      'dateformat = %F %T.%3q',
      '[logfiles]',
      'messages.log => notice,warning,error,verbose(3)',
      '',
    ].join('\n'),
    'iax.conf':
      [
        '[general]',
        // bindport first: a bindaddr without a port takes the bindport in effect at that line.
        `bindport = ${ports.iax}`,
        `bindaddr = ${ports.iaxHost}`,
        'disallow = all',
        'allow = ulaw',
        'allow = alaw',
        'jitterbuffer = no',
        'autokill = yes',
        '',
      ].join('\n') +
      lines(opts.iaxGeneral) +
      '\n' +
      lines(opts.iaxConf) +
      (opts.omitTryinclude?.includes('iax') ? '' : '\n#tryinclude iax-uuru-federation.conf\n'),
    'extensions.conf':
      [
        '[general]',
        'static = yes',
        'writeprotect = yes',
        '',
        `[${TEST_CONTEXT}]`,
        `exten => ${ECHO_EXTEN},1,Answer()`,
        ' same => n,Echo()',
        ' same => n,Hangup()',
        '',
      ].join('\n') +
      lines(opts.extensionsConf) +
      (opts.omitTryinclude?.includes('extensions') ? '' : '\n#tryinclude extensions-uuru-federation.conf\n'),
    'cdr.conf': '[general]\nenable = no\n',
    // Present but empty: their defaults are right, and a missing file is logged as an error.
    'features.conf': '',
    'acl.conf': '',
    'udptl.conf': '',
    'ccss.conf': '',
    'websocket_client.conf': '',
    'chan_websocket.conf': '',
    'musiconhold.conf': '',
    'cel.conf': '[general]\nenable = no\n',
  };
  if (opts.realtime) {
    const db = opts.realtime;
    files['res_config_mysql.conf'] = [
      '[general]',
      `dbhost = ${db.host}`,
      `dbport = ${db.port}`,
      `dbname = ${db.database}`,
      `dbuser = ${db.user}`,
      `dbpass = ${db.password}`,
      'dbcharset = utf8mb4',
      'requirements = warn',
      '',
    ].join('\n');
    files['extconfig.conf'] = [
      '[settings]',
      'iaxusers => mysql,general,iaxfriends',
      'iaxpeers => mysql,general,iaxfriends',
      'extensions => mysql,general,extensions',
      '',
    ].join('\n');
  }
  for (const [name, text] of Object.entries(files))
    fs.writeFileSync(path.join(etc, name), text, { mode: 0o600 });
  // Tone zones for Progress/Ringing indications come from the distribution's file.
  const indications = path.join(rt.chroot ?? '/', 'etc/asterisk/indications.conf');
  if (fs.existsSync(indications)) fs.copyFileSync(indications, path.join(etc, 'indications.conf'));
}

function run(file: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message.split('\n')[0]} ${String(stderr).trim()}`.trim()));
      else resolve(String(stdout));
    });
  });
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const live = new Set<number>();
let exitHookInstalled = false;
/** Last resort if a test file forgets stop(): SIGKILL our Asterisk processes when Node exits. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pid of live) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

export async function startAsterisk(opts: StartAsteriskOptions = {}): Promise<AsteriskInstance> {
  const rt = resolveRuntime();
  installExitHook();
  const id = `${(opts.name ?? 'ast').replace(/[^A-Za-z0-9_-]/g, '')}-${crypto.randomBytes(3).toString('hex')}`;
  const inner = path.join(rt.innerBase, runId(), id);
  const layout: Layout = { id, inner, host: rt.chroot ? path.join(rt.chroot, inner) : inner };
  const iaxHost = opts.standardIaxPort ? await freeLoopbackAddress(STANDARD_IAX2_PORT, runId()) : '127.0.0.1';
  const iax = opts.standardIaxPort ? STANDARD_IAX2_PORT : (opts.iaxPort ?? (await freeUdpPort()));
  const ports = { ami: await freePort(), http: await freePort(), iax, iaxHost };
  const creds = {
    amiUser: 'uuru_test',
    amiSecret: crypto.randomBytes(12).toString('hex'),
    ariUser: 'uuru_test',
    ariPassword: crypto.randomBytes(12).toString('hex'),
  };
  writeConfigs(rt, layout, ports, creds, opts);
  const innerConf = path.join(inner, 'etc', 'asterisk.conf');
  const logFile = path.join(layout.host, 'log', 'messages.log');
  const stdoutFile = path.join(layout.host, 'log', 'stdout.log');
  const bootTimeoutMs = opts.bootTimeoutMs ?? 60_000;

  const command = (args: string[]): [string, string[]] =>
    rt.chroot ? ['chroot', [rt.chroot, rt.binary, ...args]] : [rt.binary, args];

  const cli = async (cmd: string): Promise<string> => {
    const [file, args] = command(['-C', innerConf, '-rx', cmd]);
    return run(file, args, 30_000);
  };

  let child: ChildProcess | null = null;
  let pid = 0;
  let bootMs = 0;

  const launch = async (): Promise<void> => {
    const t0 = Date.now();
    const out = fs.openSync(stdoutFile, 'a');
    const [file, args] = command(['-C', innerConf, '-f', '-n']);
    const c = spawn(file, args, { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    if (!c.pid) throw new Error('asterisk did not start');
    child = c;
    pid = c.pid;
    live.add(pid);
    c.once('exit', () => live.delete(c.pid ?? 0));
    const exited = () =>
      c.exitCode !== null || c.signalCode !== null
        ? `asterisk exited (${c.exitCode ?? c.signalCode}):\n${tailFile(stdoutFile)}\n${tailFile(logFile)}`
        : null;
    try {
      await waitUntil(
        async () =>
          (await cli('core waitfullybooted')).includes('fully booted') &&
          (await cli('core show version')).startsWith('Asterisk '),
        { what: `Asterisk ${id} boot`, timeoutMs: bootTimeoutMs, intervalMs: 150, abort: exited },
      );
      await waitUntil(() => tcpOpen(ports.ami), {
        what: `Asterisk ${id} AMI port`,
        timeoutMs: 10_000,
        abort: exited,
      });
    } catch (e) {
      await killPid(pid, c).catch(() => undefined);
      throw e;
    }
    bootMs = Date.now() - t0;
  };

  const isRunning = () => child !== null && child.exitCode === null && child.signalCode === null;

  const halt = async (): Promise<void> => {
    if (child && isRunning()) await stopPid(pid, { child, graceMs: 10_000 });
  };

  const saveLog = () => {
    try {
      fs.mkdirSync(ARTIFACT_DIR, { recursive: true });
      if (fs.existsSync(logFile)) fs.copyFileSync(logFile, path.join(ARTIFACT_DIR, `${id}.log`));
    } catch {
      // artifacts are a convenience; never fail a test over them
    }
  };

  try {
    await launch();
  } catch (e) {
    saveLog();
    if (process.env.UURU_TEST_KEEP_ASTERISK !== '1') fs.rmSync(layout.host, { recursive: true, force: true });
    throw e;
  }

  const instance: AsteriskInstance = {
    id,
    get pid() {
      return pid;
    },
    amiPort: ports.ami,
    httpPort: ports.http,
    iaxHost: ports.iaxHost,
    iaxPort: ports.iax,
    amiUser: creds.amiUser,
    amiSecret: creds.amiSecret,
    ariUrl: `http://127.0.0.1:${ports.http}/ari`,
    ariUser: creds.ariUser,
    ariPassword: creds.ariPassword,
    configDir: path.join(layout.host, 'etc'),
    logFile,
    get bootMs() {
      return bootMs;
    },
    get running() {
      return isRunning();
    },
    cli,
    async restart() {
      await halt();
      await launch();
    },
    async start() {
      if (isRunning()) await halt();
      await launch();
    },
    async halt() {
      await halt();
    },
    async kill() {
      if (child && isRunning()) await killPid(pid, child);
    },
    async stop() {
      await halt();
      saveLog();
      if (process.env.UURU_TEST_KEEP_ASTERISK !== '1') {
        fs.rmSync(layout.host, { recursive: true, force: true });
        try {
          fs.rmdirSync(path.dirname(layout.host)); // the run folder, once its last instance is gone
        } catch {
          // other instances of this run are still there
        }
      }
    },
  };
  return instance;
}

/**
 * Kills Asterisk processes a test run left behind (a crashed test file) and
 * removes the run's instance folders. Only processes whose command line names
 * this run's folder are signalled.
 */
export function cleanupAsteriskRun(id: string = runId()): void {
  let rt: Runtime;
  try {
    rt = resolveRuntime();
  } catch {
    return;
  }
  const innerRun = path.join(rt.innerBase, id);
  const hostRun = rt.chroot ? path.join(rt.chroot, innerRun) : innerRun;
  if (!fs.existsSync(hostRun)) return;
  for (const inst of fs.readdirSync(hostRun)) {
    const pidFile = path.join(hostRun, inst, 'run', 'asterisk.pid');
    const pid = Number(fs.existsSync(pidFile) ? fs.readFileSync(pidFile, 'utf8').trim() : NaN);
    if (
      Number.isInteger(pid) &&
      pid > 0 &&
      pidAlive(pid) &&
      pidCommandLine(pid)?.includes(path.join(innerRun, inst))
    ) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
  if (process.env.UURU_TEST_KEEP_ASTERISK !== '1') fs.rmSync(hostRun, { recursive: true, force: true });
}

/** Creates Asterisk's own realtime tables `iaxfriends` and `extensions` (schema of contrib/ast-db-manage). */
export async function createRealtimeTables(db: RealtimeDb): Promise<void> {
  const mysql = await import('mysql2/promise');
  const conn = await mysql.createConnection({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    database: db.database,
  });
  try {
    await conn.query(`CREATE TABLE IF NOT EXISTS iaxfriends (
      id INTEGER NOT NULL AUTO_INCREMENT,
      name VARCHAR(40) NOT NULL,
      type ENUM('friend','user','peer'),
      username VARCHAR(40),
      mailbox VARCHAR(40),
      secret VARCHAR(40),
      dbsecret VARCHAR(40),
      context VARCHAR(40),
      regcontext VARCHAR(40),
      host VARCHAR(40),
      ipaddr VARCHAR(40),
      port INTEGER,
      defaultip VARCHAR(20),
      sourceaddress VARCHAR(20),
      mask VARCHAR(20),
      regexten VARCHAR(40),
      regseconds INTEGER,
      accountcode VARCHAR(80),
      mohinterpret VARCHAR(20),
      mohsuggest VARCHAR(20),
      inkeys VARCHAR(40),
      outkeys VARCHAR(40),
      language VARCHAR(10),
      callerid VARCHAR(100),
      cid_number VARCHAR(40),
      sendani ENUM('yes','no'),
      fullname VARCHAR(40),
      trunk ENUM('yes','no'),
      auth VARCHAR(20),
      maxauthreq INTEGER,
      requirecalltoken ENUM('yes','no','auto'),
      encryption ENUM('yes','no','aes128'),
      transfer ENUM('yes','no','mediaonly'),
      jitterbuffer ENUM('yes','no'),
      forcejitterbuffer ENUM('yes','no'),
      disallow VARCHAR(200),
      allow VARCHAR(200),
      codecpriority VARCHAR(40),
      qualify VARCHAR(10),
      qualifysmoothing ENUM('yes','no'),
      qualifyfreqok VARCHAR(10),
      qualifyfreqnotok VARCHAR(10),
      timezone VARCHAR(20),
      adsi ENUM('yes','no'),
      amaflags VARCHAR(20),
      setvar VARCHAR(200),
      PRIMARY KEY (id),
      UNIQUE (name),
      INDEX iaxfriends_name_host (name, host),
      INDEX iaxfriends_name_ipaddr_port (name, ipaddr, port),
      INDEX iaxfriends_ipaddr_port (ipaddr, port),
      INDEX iaxfriends_host_port (host, port)
    )`);
    await conn.query(`CREATE TABLE IF NOT EXISTS extensions (
      id BIGINT NOT NULL AUTO_INCREMENT,
      context VARCHAR(40) NOT NULL,
      exten VARCHAR(40) NOT NULL,
      priority INTEGER NOT NULL,
      app VARCHAR(40) NOT NULL,
      appdata VARCHAR(256) NOT NULL,
      PRIMARY KEY (id),
      UNIQUE (context, exten, priority)
    )`);
  } finally {
    await conn.end();
  }
}
