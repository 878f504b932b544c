import fs from 'node:fs/promises';
import path from 'node:path';
import { AppError, errorMessage } from '../core/errors';
import type { Logger } from '../logging/logger';
import type { AmiLink, AmiMessage, IaxPeerView } from './asterisk-links';
import { readFileIfExists, writeFileAtomic } from './atomic-file';
import type { DesiredState } from './desired-state';
import {
  EXTENSIONS_FILE,
  IAX_FILE,
  friendNamesIn,
  renderExtensionsFile,
  renderIaxFile,
} from './files-renderer';
import { handWrittenIaxSections } from './iax-conf-sections';
import type { ModuleReloader } from './module-reloader';
import type { ApplyReport, DriftAction, StateBackend, VerifyReport } from './state-backend';

export const IAX_MODULE = 'chan_iax2.so';
export const DIALPLAN_MODULE = 'pbx_config.so';
const INBOUND_PREFIX = 'uuru-fed-in-';

/** Splits a generated file into its [sections], keyed by section name. */
function sections(text: string | null): Map<string, string> {
  const out = new Map<string, string>();
  if (text === null) return out;
  let current: string | null = null;
  let body: string[] = [];
  const flush = () => {
    if (current !== null) out.set(current, body.join('\n').trim());
  };
  for (const line of text.split('\n')) {
    const m = /^\[([^\]]*)\]/.exec(line);
    if (m) {
      flush();
      current = m[1];
      body = [];
    } else if (current !== null) {
      body.push(line);
    }
  }
  flush();
  return out;
}

function diffSections(
  before: string | null,
  after: string,
  label: string,
): { action: DriftAction; object: string }[] {
  const a = sections(before);
  const b = sections(after);
  const changes: { action: DriftAction; object: string }[] = [];
  for (const [name, body] of b) {
    if (!a.has(name)) changes.push({ action: 'add', object: `${label}:${name}` });
    else if (a.get(name) !== body) changes.push({ action: 'change', object: `${label}:${name}` });
  }
  for (const name of a.keys())
    if (!b.has(name)) changes.push({ action: 'remove', object: `${label}:${name}` });
  return changes;
}

/**
 * The default backend: the sidecar owns two files in Asterisk's config
 * folder and nothing else. Whatever else is in iax.conf or extensions.conf is
 * never read or touched, so a hand-written peer cannot be harmed.
 */
export class FilesBackend implements StateBackend {
  readonly kind = 'files' as const;
  readonly monitorable = true;
  /** Friends we wrote at some point and have since removed: they must vanish from Asterisk. */
  private readonly removedFriends = new Set<string>();
  /** What the last apply rendered: verify knows from it which dial plan text Asterisk should hold. */
  private lastApplied: { state: DesiredState; extText: string } | null = null;
  /**
   * Peers left out of the generated file because iax.conf (or a file it
   * includes) has a hand-written section of the same name: Asterisk would build
   * both from the first section, so the trunk would silently dial the
   * hand-written peer. Reported as the peer's error until one is renamed.
   */
  private readonly conflicts = new Map<string, string>();
  /**
   * The dial plan text whose every step (and nothing else of ours) Asterisk
   * was last seen holding, in this AMI session, with no pbx_config reload
   * since; null when unknown. Asterisk's dial plan changes only on a
   * pbx_config reload (ours clears this in apply, a foreign one through
   * forgetVerified), on a restart (a new session: forgetVerified) or through
   * CLI edits, which raise no event at all and are caught by the scheduled
   * reconcile (a full verify). While the text stays the same, reading ~9 steps
   * per peer back through ShowDialPlan again proves nothing new, and with
   * 1,000 peers it costs more than Asterisk's own iax2 reload.
   */
  private dialplanVerified: string | null = null;
  /**
   * False until this process has reloaded both modules once. A sidecar killed
   * between writing a file and reloading it leaves the new file on disk and the
   * old state in Asterisk; after a restart the file already matches what is
   * wanted, so only a first forced reload makes Asterisk drop what we removed.
   */
  private reloadedOnce = false;
  /**
   * The peer list asked for right behind our own chan_iax2 reload, for the
   * verify that follows the apply of the same state: it saves a round trip
   * and the gap between the two while Asterisk still probes the new peers.
   */
  private listAfterReload: { state: DesiredState; list: Promise<IaxPeerView[]> } | null = null;

  constructor(
    private readonly configDir: string,
    private readonly ami: AmiLink,
    private readonly reloader: ModuleReloader,
    private readonly logger: Logger,
  ) {}

  private file(name: string): string {
    return path.join(this.configDir, name);
  }

  /**
   * Writes what differs and reloads only the module whose file changed (an
   * iax2 reload re-probes every peer). chan_iax2 goes first: its reload is the
   * long one, and the dial plan file is rendered, compared and written while
   * Asterisk parses the iax file. The two reloads never overlap (Asterisk
   * refuses a reload while another runs).
   */
  async apply(state: DesiredState, applyOpts: { force: boolean }): Promise<ApplyReport> {
    await this.assertConfigDir();
    const force = applyOpts.force || !this.reloadedOnce;
    const report: ApplyReport = { changes: [], reloaded: [] };
    const owned = await this.withoutConflicts(state);
    const iaxText = renderIaxFile(owned);
    const iaxBefore = await readFileIfExists(this.file(IAX_FILE));
    const wanted = new Set(owned.peers.map((p) => p.friend.name));
    for (const name of friendNamesIn(iaxBefore ?? '')) if (!wanted.has(name)) this.removedFriends.add(name);
    // Ours or not, a wanted name stays loaded: a clashing hand-written peer is not an orphan of ours.
    for (const p of state.peers) this.removedFriends.delete(p.friend.name);
    const iaxChanged = iaxBefore !== iaxText;
    if (iaxChanged) await writeFileAtomic(this.file(IAX_FILE), iaxText);

    this.listAfterReload = null;
    const iaxReload = iaxChanged || force ? this.reloadIax(state) : null;
    // Handled below; until then a failing reload must not count as an unhandled rejection.
    iaxReload?.catch(() => undefined);
    let extChanged: boolean;
    try {
      const extText = renderExtensionsFile(owned);
      const extBefore = await readFileIfExists(this.file(EXTENSIONS_FILE));
      extChanged = extBefore !== extText;
      if (extChanged) await writeFileAtomic(this.file(EXTENSIONS_FILE), extText);
      this.lastApplied = { state, extText };
      if (extChanged || force) this.dialplanVerified = null;
      // The section diff only feeds the report.
      if (iaxChanged) report.changes.push(...diffSections(iaxBefore, iaxText, 'iax'));
      if (extChanged) report.changes.push(...diffSections(extBefore, extText, 'dialplan'));
    } catch (e) {
      // Never leave our own reload running behind a failed write: the next run would collide with it.
      await iaxReload?.catch(() => undefined);
      throw e;
    }
    if (iaxReload) {
      await iaxReload;
      report.reloaded.push(IAX_MODULE);
    }
    if (extChanged || force) {
      await this.reloader.reload(DIALPLAN_MODULE);
      report.reloaded.push(DIALPLAN_MODULE);
    }
    if (report.reloaded.length === 2) this.reloadedOnce = true;
    if (report.changes.length > 0) {
      this.logger.info('generated files updated', {
        component: 'asterisk',
        changes: report.changes.length,
        reloaded: report.reloaded,
      });
    }
    return report;
  }

  /**
   * Reloads chan_iax2 and asks for the peer list right behind it: the Reload
   * is on the wire when reload() returns, and Asterisk runs one session's
   * actions in order, so the list answers with what the reload left. Verify of
   * the same state uses it, saving a round trip while Asterisk is busiest. It
   * is kept only when the first attempt did the reload (a retried one ran after it).
   */
  private async reloadIax(state: DesiredState): Promise<void> {
    const reload = this.reloader.reload(IAX_MODULE);
    const list = this.ami.iaxPeerList();
    list.catch(() => undefined); // verify may never come (a failed dial plan reload)
    const attempts = await reload;
    if (attempts === 1) this.listAfterReload = { state, list };
  }

  /** The state without the peers whose name a hand-written iax.conf section already uses (see conflicts). */
  private async withoutConflicts(state: DesiredState): Promise<DesiredState> {
    this.conflicts.clear();
    const handWritten = await handWrittenIaxSections(this.configDir, IAX_FILE);
    const owned = state.peers.filter((p) => {
      if (!handWritten.has(p.friend.name.toLowerCase())) return true;
      this.conflicts.set(
        p.peer.name,
        `iax.conf (or a file it includes) already has a section [${p.friend.name}] that the sidecar did not write; ` +
          'the federation peer is left out until one of them is renamed',
      );
      return false;
    });
    if (this.conflicts.size > 0) {
      this.logger.warn('peers clash with hand-written iax.conf sections', {
        component: 'asterisk',
        peers: [...this.conflicts.keys()],
      });
    }
    return owned.length === state.peers.length ? state : { ...state, peers: owned };
  }

  private async assertConfigDir(): Promise<void> {
    try {
      await fs.access(this.configDir, fs.constants.W_OK);
    } catch (e) {
      throw new AppError(
        'ASTERISK_CONFIG_DIR_UNWRITABLE',
        503,
        `cannot write to the Asterisk config folder ${this.configDir}: ${errorMessage(e)}`,
        { kind: 'operational', cause: e },
      );
    }
  }

  async verify(state: DesiredState, opts: { full?: boolean } = {}): Promise<VerifyReport> {
    const report: VerifyReport = { peerErrors: new Map(), problems: [] };
    const prefetched = this.listAfterReload?.state === state ? this.listAfterReload.list : null;
    this.listAfterReload = null;
    const loaded = new Map((await (prefetched ?? this.ami.iaxPeerList())).map((e) => [e.name, e]));
    const extText = this.lastApplied?.state === state ? this.lastApplied.extText : null;
    const readDialplan = opts.full === true || extText === null || this.dialplanVerified !== extText;
    const dialplan = readDialplan ? await this.dialplan() : null;
    let dialplanOk = true;
    for (const p of state.peers) {
      const conflict = this.conflicts.get(p.peer.name);
      if (conflict) {
        report.peerErrors.set(p.peer.name, conflict);
        continue;
      }
      const entry = loaded.get(p.friend.name);
      if (!entry) {
        report.peerErrors.set(p.peer.name, 'Asterisk did not load the IAX2 peer (see the Asterisk log)');
        continue;
      }
      if (entry.port && entry.port !== p.peer.port) {
        report.peerErrors.set(
          p.peer.name,
          `Asterisk has the peer on port ${entry.port}, expected ${p.peer.port}`,
        );
        continue;
      }
      const missing = dialplan
        ? p.steps.find((s) => !dialplan.has(stepKey(s.context, s.exten, s.priority, s.app)))
        : undefined;
      if (missing) {
        dialplanOk = false;
        report.peerErrors.set(
          p.peer.name,
          `dial plan step ${missing.exten},${missing.priority} in ${missing.context} is not loaded`,
        );
      }
    }
    for (const name of this.removedFriends) {
      if (loaded.has(name)) report.problems.push(`removed peer ${name} is still loaded`);
    }
    if (dialplan) {
      const ours = state.peers.filter((p) => !this.conflicts.has(p.peer.name));
      const wantedContexts = new Set(ours.map((p) => p.inboundContext));
      const wantedOutbound = new Set(ours.map((p) => p.outboundExten));
      for (const key of dialplan) {
        const [context, exten] = key.split('\u0000');
        if (context.startsWith(INBOUND_PREFIX) && !wantedContexts.has(context)) {
          dialplanOk = false;
          report.problems.push(`removed context ${context} is still loaded`);
        } else if (context === state.outboundContext && !wantedOutbound.has(exten)) {
          dialplanOk = false;
          report.problems.push(`removed outbound pattern ${exten} is still loaded`);
        }
      }
      this.dialplanVerified = dialplanOk ? extText : null;
    }
    report.problems = [...new Set(report.problems)];
    return report;
  }

  forgetVerified(): void {
    this.dialplanVerified = null;
    this.listAfterReload = null;
  }

  async close(): Promise<void> {
    // Nothing held open: the files stay for Asterisk.
  }

  /** Steps of our contexts as Asterisk holds them (ShowDialPlan), keyed by context, exten, priority, app. */
  private async dialplan(): Promise<Set<string>> {
    let events: AmiMessage[];
    try {
      ({ events } = await this.ami.listAction({ Action: 'ShowDialPlan' }));
    } catch (e) {
      // An empty dial plan answers with an error instead of an empty list.
      if (/did not find/i.test(errorMessage(e))) return new Set();
      throw e;
    }
    const keys = new Set<string>();
    for (const ev of events) {
      const context = ev.context ?? '';
      if (!ev.extension || !ev.priority || !ev.application) continue;
      if (ev.registrar && ev.registrar !== 'pbx_config') continue;
      keys.add(stepKey(context, ev.extension, Number(ev.priority), ev.application));
    }
    return keys;
  }
}

function stepKey(context: string, exten: string, priority: number, app: string): string {
  return [context, exten, String(priority), app.toLowerCase()].join('\u0000');
}
