/**
 * `npm run demo`: two complete instances on this machine, federated.
 *
 * Each instance is a real Asterisk 22 (from the cached Debian sid chroot that
 * scripts/setup-system.sh builds; built here if missing) and a real sidecar
 * process on its own SQLite, on free loopback ports. The demo creates a panel
 * admin on each (through the CLI, as an operator would), federates them
 * through the admin API (alpha requests, bravo accepts), places a call each
 * way through the prefixes, and prints the panel URLs and credentials.
 * Ctrl-C stops every process it started (by pid) and deletes what it wrote.
 */
import { execFile, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { defaultChrootDir } from '../test/harness/asterisk';
import { type Instance, LOCAL_ECHO_EXTENSION, startInstances } from '../test/harness/instance';
import { adminOk, incomingByName, peerByName, type Sidecar } from '../test/harness/sidecar';
import { waitUntil } from '../test/harness/wait';

const ROOT = path.resolve(__dirname, '..');
const PEERING = 'alpha_bravo';
/** What alpha's phones dial before a bravo extension, and the other way round. */
const PREFIX_ON_ALPHA = '82';
const PREFIX_ON_BRAVO = '81';
const ADMIN_USER = 'admin';

interface Credentials {
  username: string;
  password: string;
}

class Interrupted extends Error {}

const say = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

function ensureAsterisk(): void {
  if (process.env.UURU_TEST_ASTERISK_BINARY) return;
  const chroot = defaultChrootDir();
  if (fs.existsSync(path.join(chroot, 'usr/sbin/asterisk'))) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `no Asterisk chroot at ${chroot}: run "sudo bash scripts/setup-system.sh" once, ` +
        'or set UURU_TEST_ASTERISK_BINARY to an Asterisk 22 binary',
    );
  }
  say(`Building the Asterisk chroot at ${chroot} (once; takes a few minutes)...`);
  execFileSync('bash', [path.join(ROOT, 'scripts', 'setup-system.sh')], { stdio: 'inherit' });
}

/** `uuru-fed admin create`, the way an operator creates the first panel account; the password goes on stdin. */
function createPanelAdmin(s: Sidecar): Promise<Credentials> {
  const password = crypto.randomBytes(12).toString('base64url');
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    UURU_CONFIG_FILE: path.join(s.dataDir, 'config.json'),
    UURU_DATA_DIR: s.dataDir,
    UURU_DATABASE_TYPE: 'sqlite',
    UURU_DATABASE_SQLITE_PATH: s.sqlitePath ?? '',
    UURU_LOGLEVEL: 'warn',
  };
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [
        '-r',
        'ts-node/register/transpile-only',
        path.join(ROOT, 'src/cli/main.ts'),
        'admin',
        'create',
        ADMIN_USER,
      ],
      { cwd: ROOT, env, timeout: 60_000 },
      (err, _stdout, stderr) => {
        if (err)
          reject(
            new Error(`uuru-fed admin create failed on ${s.name}: ${String(stderr).trim() || err.message}`),
          );
        else resolve({ username: ADMIN_USER, password });
      },
    );
    child.stdin?.end(`${password}\n`);
  });
}

/** Signs in to the panel with the printed credentials, so the demo never prints a login that does not work. */
async function checkPanelLogin(s: Sidecar, c: Credentials): Promise<void> {
  const form = await fetch(`${s.adminUrl}/panel/login`);
  const cookie = (form.headers.get('set-cookie') ?? '').split(';')[0];
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
  const res = await fetch(`${s.adminUrl}/panel/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: csrf, username: c.username, password: c.password }).toString(),
  });
  if (res.status !== 303 || !(res.headers.get('location') ?? '').endsWith('/panel/federation')) {
    throw new Error(`panel login on ${s.name} did not work (HTTP ${res.status})`);
  }
}

interface PeerState {
  id: string;
  apply_state: string;
  apply_error: string | null;
}

async function appliedPeer(s: Sidecar): Promise<PeerState> {
  return waitUntil(
    async () => {
      const p = (await peerByName(s, PEERING)) as PeerState | undefined;
      if (p?.apply_state === 'failed') throw new Error(`applying the trunk failed: ${p.apply_error}`);
      return p?.apply_state === 'applied' ? p : undefined;
    },
    { what: `the trunk on ${s.name} to be applied`, timeoutMs: 30_000 },
  );
}

async function federate(alpha: Instance, bravo: Instance): Promise<{ setupMs: number }> {
  const t0 = Date.now();
  await adminOk(
    alpha.sidecar,
    'POST',
    '/federation/outgoing-requests',
    { name: PEERING, partner_url: bravo.sidecar.federationUrl, prefix: PREFIX_ON_ALPHA, codec: 'ulaw' },
    201,
  );
  const incoming = await waitUntil(() => incomingByName(bravo.sidecar, PEERING), {
    what: 'the request to arrive at bravo',
  });
  await adminOk(
    bravo.sidecar,
    'POST',
    `/federation/incoming-requests/${incoming.id}/accept`,
    { prefix: PREFIX_ON_BRAVO },
    200,
  );
  await Promise.all([appliedPeer(alpha.sidecar), appliedPeer(bravo.sidecar)]);
  return { setupMs: Date.now() - t0 };
}

function describeInstance(i: Instance, c: Credentials, otherName: string, prefix: string): void {
  const s = i.sidecar;
  say(`  ${i.name}`);
  say(`    panel          ${s.adminUrl}/panel/`);
  say(`    login          ${c.username} / ${c.password}`);
  say(`    API token      ${s.token}   (Authorization: Bearer ...; ${s.adminUrl}/api/admin/openapi.json)`);
  say(`    federation     ${s.federationUrl}/.well-known/uuru-federation`);
  say(
    `    Asterisk       IAX2 127.0.0.1:${i.asterisk.iaxPort}, AMI :${i.asterisk.amiPort}, ARI ${i.asterisk.ariUrl}`,
  );
  say(`    generated      ${i.asterisk.configDir}/iax-uuru-federation.conf`);
  say(`    database       ${s.sqlitePath}`);
  say(
    `    dials ${otherName}    ${prefix} + a ${otherName} extension (${LOCAL_ECHO_EXTENSION} answers with Echo)`,
  );
  say(`    processes      sidecar pid ${s.pid}, asterisk pid ${i.asterisk.pid}`);
}

async function main(): Promise<void> {
  let interrupted = false;
  let wake: () => void = () => undefined;
  const stopRequested = new Promise<void>((resolve) => (wake = resolve));
  const instances: Instance[] = [];
  /** Every process the demo started, recorded as soon as it is up. */
  const pids: number[] = [];
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) {
      // A second Ctrl-C: no more waiting for graceful stops.
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      process.exit(130);
    }
    interrupted = true;
    say(`\n${signal}: stopping everything the demo started...`);
    wake();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A step in flight is allowed to finish (bounded by its own timeout) so that nothing it starts is orphaned.
  const checkpoint = () => {
    if (interrupted) throw new Interrupted();
  };

  try {
    ensureAsterisk();
    checkpoint();
    say('Starting two instances (Asterisk + sidecar + SQLite each)...');
    const t0 = Date.now();
    const started = await startInstances([
      { name: 'alpha', db: 'sqlite' },
      { name: 'bravo', db: 'sqlite' },
    ]);
    instances.push(...started);
    pids.push(...started.flatMap((i) => [i.sidecar.pid, i.asterisk.pid]));
    const [alpha, bravo] = started;
    say(`  both up in ${Date.now() - t0} ms`);
    checkpoint();

    say('Creating a panel admin on each (uuru-fed admin create)...');
    const [credA, credB] = await Promise.all([
      createPanelAdmin(alpha.sidecar),
      createPanelAdmin(bravo.sidecar),
    ]);
    await Promise.all([checkPanelLogin(alpha.sidecar, credA), checkPanelLogin(bravo.sidecar, credB)]);
    checkpoint();

    say(`Federating through the admin API: alpha requests "${PEERING}", bravo accepts...`);
    const fed = await federate(alpha, bravo);
    say(`  both trunks applied and verified in Asterisk ${fed.setupMs} ms after the request`);
    checkpoint();

    say("Placing calls through the prefixes (AMI Originate from the phones' context)...");
    for (const [from, to, number] of [
      [alpha, bravo, `${PREFIX_ON_ALPHA}${LOCAL_ECHO_EXTENSION}`],
      [bravo, alpha, `${PREFIX_ON_BRAVO}${LOCAL_ECHO_EXTENSION}`],
    ] as const) {
      const call = await from.dial(number);
      say(
        call.answered
          ? `  ${from.name} dials ${number}: answered by ${to.name} over IAX2, setup ${call.setupMs} ms`
          : `  ${from.name} dials ${number}: NOT answered (${call.reason})`,
      );
      if (!call.answered) throw new Error(`the call from ${from.name} to ${to.name} was not answered`);
    }
    checkpoint();

    say();
    say('Two federated instances are running:');
    say();
    describeInstance(alpha, credA, 'bravo', PREFIX_ON_ALPHA);
    say();
    describeInstance(bravo, credB, 'alpha', PREFIX_ON_BRAVO);
    say();
    say('Try the CLI against alpha:');
    say(
      `  UURU_ADMIN_URL=${alpha.sidecar.adminUrl} UURU_ADMIN_TOKEN=${alpha.sidecar.token} npm run cli -- peers list`,
    );
    say();
    say('Press Ctrl-C to stop everything.');
    await stopRequested;
  } catch (e) {
    if (!(e instanceof Interrupted)) {
      process.exitCode = 1;
      process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
      for (const i of instances) {
        const tail = i.sidecar.logs().trim().split('\n').slice(-15).join('\n');
        if (tail) process.stderr.write(`--- last log lines of ${i.name}:\n${tail}\n`);
      }
    }
  } finally {
    await Promise.allSettled(instances.map((i) => i.stop()));
    // Asterisk's logs are copied to test-artifacts/ on stop; keep them only when something went wrong.
    if (!process.exitCode) {
      for (const i of instances) {
        fs.rmSync(path.join(ROOT, 'test-artifacts', 'asterisk', `${i.asterisk.id}.log`), { force: true });
      }
    }
    const left = pids.filter((pid) => isAlive(pid));
    say(
      left.length === 0
        ? `Stopped (pids ${pids.join(', ')}); temporary files removed.`
        : `Still running: ${left.join(', ')}`,
    );
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

main().then(
  () => process.exit(),
  (e: unknown) => {
    process.stderr.write(`demo: ${String(e)}\n`);
    process.exit(1);
  },
);
