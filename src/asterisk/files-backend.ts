import fs from 'node:fs/promises';
import path from 'node:path';
import { AppError, errorMessage } from '../core/errors';
import type { Logger } from '../logging/logger';
import type { AmiLink, AmiMessage } from './asterisk-links';
import { KnownFile } from './atomic-file';
import type { DesiredState } from './desired-state';
import {
  EXTENSIONS_FILE,
  IAX_FILE,
  MARK_PATTERN,
  renderExtensionsFile,
  renderIax,
  type RenderedIax,
} from './files-renderer';
import { handWrittenIaxSections } from './iax-conf-sections';
import { watchGeneratedFiles } from './generated-files-watch';
import { diffSectionMaps, diffSections, sections } from './generated-sections';
import type { ModuleReloader } from './module-reloader';
import type { ApplyReport, StateBackend, VerifyReport } from './state-backend';

export const IAX_MODULE = 'chan_iax2.so';
export const DIALPLAN_MODULE = 'pbx_config.so';
const INBOUND_PREFIX = 'uuru-fed-in-';
/** The marks of the IAX2 peers Asterisk holds: each mark shown, with how many peers show it. */
type PeerListing = Map<string, number>;

/**
 * The default backend: the sidecar owns two files in Asterisk's config
 * folder and nothing else. Whatever else is in iax.conf or extensions.conf is
 * never read or touched, so a hand-written peer cannot be harmed.
 */
export class FilesBackend implements StateBackend {
  readonly kind = 'files' as const;
  readonly monitorable = true;
  /**
   * What the last apply rendered: verify knows from it which dial plan text
   * and which section marks Asterisk should hold.
   */
  private lastApplied: {
    state: DesiredState;
    owned: DesiredState;
    extText: string;
    marks: Map<string, string>;
  } | null = null;
  /** The iax file as last rendered and written: the next apply diffs against its sections without parsing. */
  private lastIax: RenderedIax | null = null;
  /** The marks of the render before the last, to name a removed peer that is still loaded. */
  private previousMarks = new Map<string, string>();
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
   * The peers' marks read right behind our own chan_iax2 reload,
   * for the verify that follows the apply of the same state (see reloadIax).
   */
  private listAfterReload: { state: DesiredState; list: Promise<PeerListing> } | null = null;

  /**
   * `probe` is a second AMI session, logged in without events, to list the
   * peers for a verify that has no list taken behind its reload (see
   * listPeers). Without it (or while it is down), the main session lists them.
   */
  constructor(
    private readonly configDir: string,
    private readonly ami: AmiLink,
    private readonly reloader: ModuleReloader,
    private readonly logger: Logger,
    private readonly probe: AmiLink | null = null,
  ) {
    this.iaxFile = new KnownFile(path.join(configDir, IAX_FILE));
    this.extFile = new KnownFile(path.join(configDir, EXTENSIONS_FILE));
  }

  private readonly iaxFile: KnownFile;
  private readonly extFile: KnownFile;
  /**
   * What each generated file should hold: set before the apply writes it (or
   * finds it already so), so that the watcher never takes our own write for a
   * hand edit, even when it looks while the write is still going on.
   */
  private readonly expectedText = new Map<string, string>();

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
    const iax = renderIax(owned);
    const iaxBefore = await this.iaxFile.read();
    // The file as we left it needs no parsing: its sections are those of our last render, and their
    // marks tell which changed (a mark is a digest of the section).
    const ours = iaxBefore !== null && this.lastIax?.text === iaxBefore ? this.lastIax : null;
    const sectionsBefore = ours ? ours.marks : sections(iaxBefore);
    const sectionsNow = ours ? iax.marks : iax.bodies;
    const iaxChanged = iaxBefore !== iax.text;
    this.expectedText.set(IAX_FILE, iax.text);
    if (iaxChanged) await this.iaxFile.write(iax.text);
    if (this.lastIax) this.previousMarks = this.lastIax.marks;
    this.lastIax = iax;

    this.listAfterReload = null;
    const iaxReload = iaxChanged || force ? this.reloadIax(state) : null;
    // Handled below; until then a failing reload must not count as an unhandled rejection.
    iaxReload?.catch(() => undefined);
    let extChanged: boolean;
    try {
      // A change of IAX2 options alone (codec, host, secret ...) leaves every dial plan step as it was: the
      // text rendered last time stands, without rendering ~10,000 lines again while chan_iax2 reloads.
      const last = this.lastApplied;
      const extText = last && sameDialplan(last.owned, owned) ? last.extText : renderExtensionsFile(owned);
      const extBefore = await this.extFile.read();
      extChanged = extBefore !== extText;
      this.expectedText.set(EXTENSIONS_FILE, extText);
      if (extChanged) await this.extFile.write(extText);
      this.lastApplied = { state, owned, extText, marks: iax.marks };
      if (extChanged || force) this.dialplanVerified = null;
      // The section diff only feeds the report.
      if (iaxChanged) report.changes.push(...diffSectionMaps(sectionsBefore, sectionsNow, 'iax'));
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

  /** Repairs a hand edit of a generated file at once (see generated-files-watch.ts). */
  watchDrift(onDrift: (file: string) => void): () => void {
    return watchGeneratedFiles({
      configDir: this.configDir,
      files: new Map([
        [IAX_FILE, this.iaxFile],
        [EXTENSIONS_FILE, this.extFile],
      ]),
      expected: (name) => this.expectedText.get(name),
      onDrift,
      logger: this.logger,
    });
  }

  /**
   * Reloads chan_iax2 and reads the peers' marks for the verify of the same
   * state, with one `iax2 show peers` sent on the main session right behind
   * the Reload: the Reload is on the wire when reload() returns, and Asterisk
   * runs one session's actions in order, so the list is taken once the reload
   * is over and shows what it left. Nothing asks Asterisk anything while it
   * reloads: a second session looking at the peers during the reload (as an
   * earlier version did, every 5 ms) slows the reload itself. The list is kept
   * only when the first attempt did the reload (a retried one ran after it).
   */
  private async reloadIax(state: DesiredState): Promise<void> {
    const reload = this.reloader.reload(IAX_MODULE);
    const list = loadedMarks(this.ami);
    list.catch(() => undefined); // verify may never come (a failed dial plan reload)
    const attempts = await reload;
    if (attempts === 1) this.listAfterReload = { state, list };
  }

  private probeIfUp(): AmiLink | null {
    return this.probe?.state === 'connected' ? this.probe : null;
  }

  /** Reads the loaded peers' marks now, on the probe session if it is up, else on the main one. */
  private async listPeers(): Promise<PeerListing> {
    const probe = this.probeIfUp();
    if (probe) {
      try {
        return await loadedMarks(probe);
      } catch (e) {
        this.logger.debug('peer list on the probe session failed; using the main session', {
          component: 'asterisk',
          error: errorMessage(e),
        });
      }
    }
    return await loadedMarks(this.ami);
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
        `cannot write to the Asterisk config folder ${this.configDir}: ${errorMessage(e)}`,
        { cause: e },
      );
    }
  }

  async verify(state: DesiredState, opts: { full?: boolean } = {}): Promise<VerifyReport> {
    const prefetched = this.listAfterReload?.state === state ? this.listAfterReload.list : null;
    this.listAfterReload = null;
    const marks =
      this.lastApplied?.state === state ? this.lastApplied.marks : renderIax(this.owned(state)).marks;
    const listing = (prefetched ? await prefetched.catch(() => null) : null) ?? (await this.listPeers());
    const report = this.checkPeers(state, listing, marks);
    const extText = this.lastApplied?.state === state ? this.lastApplied.extText : null;
    const readDialplan = opts.full === true || extText === null || this.dialplanVerified !== extText;
    const dialplan = readDialplan ? await this.dialplan() : null;
    if (!dialplan) return report;
    let dialplanOk = true;
    for (const p of state.peers) {
      if (report.peerErrors.has(p.peer.name)) continue;
      const missing = p.steps.find((s) => !dialplan.has(stepKey(s.context, s.exten, s.priority, s.app)));
      if (missing) {
        dialplanOk = false;
        report.peerErrors.set(
          p.peer.name,
          `dial plan step ${missing.exten},${missing.priority} in ${missing.context} is not loaded`,
        );
      }
    }
    const ours = this.owned(state).peers;
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
    report.problems = [...new Set(report.problems)];
    return report;
  }

  /** The friend a mark of the last two renders belongs to (only looked up for what verify reports). */
  private nameOfMark(mark: string): string | undefined {
    for (const marks of [this.lastIax?.marks, this.previousMarks]) {
      for (const [name, m] of marks ?? []) if (m === mark) return name;
    }
    return undefined;
  }

  /** The state without the peers left out for a clash (see conflicts). */
  private owned(state: DesiredState): DesiredState {
    if (this.conflicts.size === 0) return state;
    return { ...state, peers: state.peers.filter((p) => !this.conflicts.has(p.peer.name)) };
  }

  /**
   * The IAX2 side of verify: every owned peer shows its current mark, and no
   * other mark of ours is loaded. A mark covers the friend's name and every
   * option (host, port, secret, codec ...), so it proves more than the name
   * and port that Asterisk's peer lists show.
   */
  private checkPeers(state: DesiredState, listing: PeerListing, marks: Map<string, string>): VerifyReport {
    const report: VerifyReport = { peerErrors: new Map(), problems: [] };
    const wanted = new Set<string>();
    for (const p of state.peers) {
      const conflict = this.conflicts.get(p.peer.name);
      if (conflict) {
        report.peerErrors.set(p.peer.name, conflict);
        continue;
      }
      const mark = marks.get(p.friend.name) ?? '';
      wanted.add(mark);
      if (!listing.has(mark)) {
        report.peerErrors.set(
          p.peer.name,
          'Asterisk does not hold the current version of the IAX2 peer: not loaded, or loaded from an older ' +
            'version of its section (see the Asterisk log)',
        );
      }
    }
    const current = new Set(state.peers.map((p) => p.friend.name));
    for (const [mark, count] of listing) {
      if (wanted.has(mark) && count === 1) continue;
      const name = this.nameOfMark(mark);
      if (wanted.has(mark)) {
        report.problems.push(`${count} IAX2 peers carry the mark of ${name ?? mark}`);
        continue;
      }
      // An older version of a wanted peer is that peer's error already.
      if (name !== undefined && current.has(name)) continue;
      report.problems.push(
        name === undefined
          ? `an IAX2 peer with a mark no current peer has (${mark}) is still loaded`
          : `removed peer ${name} is still loaded`,
      );
    }
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

/** Whether two states render the same dial plan file: the same contexts, steps and order. */
export function sameDialplan(a: DesiredState, b: DesiredState): boolean {
  if (a.outboundContext !== b.outboundContext || a.peers.length !== b.peers.length) return false;
  for (let i = 0; i < a.peers.length; i++) {
    const pa = a.peers[i];
    const pb = b.peers[i];
    if (pa.inboundContext !== pb.inboundContext) return false;
    if (pa.steps === pb.steps) continue; // handed on unchanged by buildDesiredState
    if (pa.steps.length !== pb.steps.length) return false;
    for (let j = 0; j < pa.steps.length; j++) {
      const sa = pa.steps[j];
      const sb = pb.steps[j];
      if (
        sa.context !== sb.context ||
        sa.exten !== sb.exten ||
        sa.priority !== sb.priority ||
        sa.app !== sb.app ||
        sa.appData !== sb.appData
      ) {
        return false;
      }
    }
  }
  return true;
}

/** The marks in `iax2 show peers` (its description column), with how many peers show each. */
async function loadedMarks(link: AmiLink): Promise<Map<string, number>> {
  const marks = new Map<string, number>();
  for (const [m] of (await link.command('iax2 show peers')).matchAll(MARK_PATTERN)) {
    marks.set(m, (marks.get(m) ?? 0) + 1);
  }
  return marks;
}

function stepKey(context: string, exten: string, priority: number, app: string): string {
  return [context, exten, String(priority), app.toLowerCase()].join('\u0000');
}
