/**
 * A complete federation instance for tests: a real Asterisk from the harness
 * and a real sidecar process wired to it (AMI, ARI, the generated files in
 * Asterisk's etc dir, partners reaching its IAX2 port). Plus the check the
 * fault tests end with: does this instance's Asterisk hold exactly the peers
 * its database holds?
 */
import fs from 'node:fs';
import path from 'node:path';
import { type AsteriskInstance, type StartAsteriskOptions, startAsterisk } from './asterisk';
import { type Sidecar, type SidecarOptions, startSidecar } from './sidecar';
import { deepMerge } from '../../src/config/deep-merge';

/** The generated IAX2 file's name (the wiring contract between the layers). */
export const GENERATED_IAX_FILE = 'iax-uuru-federation.conf';

export interface FederatedNode {
  name: string;
  ast: AsteriskInstance;
  sidecar: Sidecar;
  /** Stops the sidecar (deleting its data) and Asterisk. */
  destroy(): Promise<void>;
}

export interface FederatedNodeOptions {
  name: string;
  db?: SidecarOptions['db'];
  /** Settings merged into the sidecar's config file. */
  config?: Record<string, unknown>;
  /** Extra UURU_* variables for the sidecar (win over the wiring below). */
  env?: Record<string, string>;
  asterisk?: StartAsteriskOptions;
  /**
   * AMI port the sidecar connects to, when not Asterisk's own (a fault proxy
   * in front of it); called with the started Asterisk.
   */
  amiPort?: (ast: AsteriskInstance) => Promise<number> | number;
}

/** Short qualify and monitor intervals and a short reload debounce, so state settles fast. */
const FAST_ASTERISK = {
  asterisk: { qualifyFreqOkMs: 1000, qualifyFreqNotOkMs: 1000, reloadDebounceMs: 100 },
  jobs: { monitorPollMs: 500 },
};

export async function startFederatedNode(opts: FederatedNodeOptions): Promise<FederatedNode> {
  const ast = await startAsterisk({ name: opts.name, ...opts.asterisk });
  try {
    const amiPort = opts.amiPort ? await opts.amiPort(ast) : ast.amiPort;
    const sidecar = await startSidecar({
      name: opts.name,
      db: opts.db,
      config: deepMerge(FAST_ASTERISK, opts.config ?? {}),
      env: {
        UURU_ASTERISK_ENABLED: 'true',
        UURU_ASTERISK_AMI_ADDR: '127.0.0.1',
        UURU_ASTERISK_AMI_PORT: String(amiPort),
        UURU_ASTERISK_AMI_USER: ast.amiUser,
        UURU_ASTERISK_AMI_PASS: ast.amiSecret,
        UURU_ASTERISK_ARI_URL: ast.ariUrl,
        UURU_ASTERISK_ARI_USER: ast.ariUser,
        UURU_ASTERISK_ARI_PASS: ast.ariPassword,
        UURU_ASTERISK_CONFIG_DIR: ast.configDir,
        UURU_FEDERATION_IAX2_HOST: ast.iaxHost,
        UURU_FEDERATION_IAX2_PORT: String(ast.iaxPort),
        ...(opts.env ?? {}),
      },
    });
    return {
      name: opts.name,
      ast,
      sidecar,
      async destroy() {
        await Promise.allSettled([sidecar.destroy()]);
        await ast.stop();
      },
    };
  } catch (e) {
    await ast.stop().catch(() => undefined);
    throw e;
  }
}

/**
 * Starts several nodes side by side; if any fails, the others are destroyed
 * before the error is passed on, so a failed beforeAll leaves nothing running.
 */
export function startFederatedNodes(all: FederatedNodeOptions[]): Promise<FederatedNode[]> {
  return allOrNone(
    all.map((o) => startFederatedNode(o)),
    (n) => n.destroy(),
  );
}

/** Awaits every start; if one fails, cleans up the ones that succeeded and rethrows. */
export async function allOrNone<T>(starts: Promise<T>[], cleanup: (t: T) => Promise<void>): Promise<T[]> {
  const started = await Promise.allSettled(starts);
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.allSettled(started.map((r) => (r.status === 'fulfilled' ? cleanup(r.value) : undefined)));
    throw failed.reason;
  }
  return started.map((r) => (r as PromiseFulfilledResult<T>).value);
}

export interface AsteriskAgreement {
  /** Peer names in the sidecar's database. */
  dbPeers: string[];
  /** Peers whose apply_state is not 'applied'. */
  notApplied: string[];
  /** Friend sections in the generated iax-uuru-federation.conf. */
  filePeers: string[];
  /** Peers Asterisk itself lists (`iax2 show peers`, the CLI face of IAXpeerlist). */
  livePeers: string[];
  /** In the database but absent from the file or from Asterisk. */
  missing: string[];
  /** In the file or in Asterisk but not in the database. */
  orphans: string[];
}

/** Section names of an iax.conf-style file. */
export function sectionNames(text: string): string[] {
  return text
    .split('\n')
    .map((l) => /^\[([^\]]+)\]\s*$/.exec(l.trim())?.[1])
    .filter((n): n is string => n !== undefined);
}

/** Peer names from `iax2 show peers` output (rows are "name/username host ..."). */
export function parseIaxShowPeers(out: string): string[] {
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('Name/Username') && !/^\d+ iax2 peers/.test(l))
    .map((l) => l.split(/\s+/)[0].split('/')[0]);
}

/**
 * Compares one instance's Peer rows with its generated file and with what
 * Asterisk has loaded. `extraLivePeers` are hand-written peers Asterisk has
 * that are not the sidecar's business.
 */
export async function asteriskAgreement(
  node: FederatedNode,
  extraLivePeers: string[] = [],
): Promise<AsteriskAgreement> {
  const rows = await node.sidecar.query<{ name: string; applyState: string }>(
    'SELECT name, applyState FROM {db}.peers',
  );
  const dbPeers = rows.map((r) => r.name).sort();
  const file = path.join(node.ast.configDir, GENERATED_IAX_FILE);
  const filePeers = fs.existsSync(file) ? sectionNames(fs.readFileSync(file, 'utf8')).sort() : [];
  const livePeers = parseIaxShowPeers(await node.ast.cli('iax2 show peers'))
    .filter((n) => !extraLivePeers.includes(n))
    .sort();
  const missing = dbPeers.filter((n) => !filePeers.includes(n) || !livePeers.includes(n));
  const orphans = [...new Set([...filePeers, ...livePeers])].filter((n) => !dbPeers.includes(n)).sort();
  return {
    dbPeers,
    notApplied: rows.filter((r) => r.applyState !== 'applied').map((r) => r.name),
    filePeers,
    livePeers,
    missing,
    orphans,
  };
}

/** True when nothing is missing, nothing is orphaned and every peer is applied. */
export function agrees(a: AsteriskAgreement): boolean {
  return a.missing.length === 0 && a.orphans.length === 0 && a.notApplied.length === 0;
}
