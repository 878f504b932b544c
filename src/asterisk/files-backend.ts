import fs from 'node:fs';
import { AppError, errorMessage } from '../core/errors';
import type { Logger } from '../logging/logger';
import type { AmiLink } from './asterisk-links';
import { loadedDialplanSteps, loadedMarks, type PeerListing } from './asterisk-readback';
import type { DesiredState } from './desired-state';
import { HandWrittenClashes, sameDialplan } from './files-plan';
import {
  EXTENSIONS_FILE,
  IAX_FILE,
  renderExtensionsFile,
  renderIax,
  type RenderedIax,
} from './files-renderer';
import { checkDialplan, checkPeers } from './files-verify';
import { GeneratedFiles } from './generated-files';
import { diffSectionMaps, diffSections, sections } from './generated-sections';
import type { ModuleReloader } from './module-reloader';
import type { ApplyReport, StateBackend, VerifyReport } from './state-backend';

export const IAX_MODULE = 'chan_iax2.so';
export const DIALPLAN_MODULE = 'pbx_config.so';

/**
 * The default backend: the sidecar owns two files in Asterisk's config
 * folder and nothing else. Whatever else is in iax.conf or extensions.conf is
 * never read or touched, so a hand-written peer cannot be harmed.
 *
 * This file runs the steps and keeps what one run leaves for the next: which
 * peers it may write (files-plan.ts), rendering (files-renderer.ts), writing
 * (generated-files.ts), the reloads (module-reloader.ts), reading back what
 * Asterisk holds (asterisk-readback.ts) and comparing (files-verify.ts).
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
  /** The two generated files, written only when their text changes. */
  private readonly files: GeneratedFiles;
  /** Peers left out because a hand-written iax.conf section has their name (see HandWrittenClashes). */
  private readonly clashes: HandWrittenClashes;
  /**
   * The dial plan text whose every step (and nothing else of ours) Asterisk
   * was last seen holding, in this AMI session, with no pbx_config reload
   * since; null when unknown. Asterisk's dial plan changes only on a
   * pbx_config reload (ours clears this in apply, anyone's Reload event
   * through forgetDialplan), on a restart (a new session: forgetVerified) or through
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
  /** The same for the dial plan: its steps read right behind our own pbx_config reload. */
  private dialplanAfterReload: { state: DesiredState; steps: Promise<Set<string>> } | null = null;

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
    this.files = new GeneratedFiles(configDir);
    this.clashes = new HandWrittenClashes(configDir, logger);
  }

  /**
   * Writes what differs and reloads only the module whose file changed (an
   * iax2 reload re-probes every peer). Both files are written before either
   * reload, at once: the fsync of each temp file (its text on disk before the
   * rename) waits for the disk, and the two waits overlap instead of adding
   * up (on a loaded machine each took 10-25 ms). chan_iax2 reloads first,
   * the long one, and the dial plan's Reload is sent right behind it on the
   * same session: Asterisk runs a session's actions in order, so the two
   * reloads never overlap (it refuses a reload while another runs), and no
   * round trip separates them. The report's section diff is worked out meanwhile.
   */
  async apply(state: DesiredState, applyOpts: { force: boolean }): Promise<ApplyReport> {
    this.assertConfigDir();
    const force = applyOpts.force || !this.reloadedOnce;
    const phases = new Laps();
    const report: ApplyReport = { changes: [], reloaded: [], phasesMs: phases.ms };
    const t0 = performance.now();
    const owned = await this.clashes.exclude(state);
    const iax = renderIax(owned, this.clashes.renderOptions());
    // A change of IAX2 options alone (codec, host, secret ...) leaves every dial plan step as it was: the
    // text rendered last time stands, without rendering ~10,000 lines again.
    const last = this.lastApplied;
    const extText = last && sameDialplan(last.owned, owned) ? last.extText : renderExtensionsFile(owned);
    phases.lap('render');
    // Both settled before a failure is thrown: the next run must not meet a write of this one still going on.
    const [iaxWrite, extWrite] = await settledBoth(
      this.files.replace(IAX_FILE, iax.text),
      this.files.replace(EXTENSIONS_FILE, extText),
    );
    phases.lap('write');
    const iaxChanged = iaxWrite.changed;
    const extChanged = extWrite.changed;
    const t1 = performance.now();
    // The folder's fsync (the rename made durable) runs behind the reloads, the verify and the record.
    const durable: Promise<void>[] = [iaxWrite.durable, extWrite.durable];
    // The file as we left it needs no parsing: its sections are those of our last render, and their
    // marks tell which changed (a mark is a digest of the section).
    const iaxBefore = iaxWrite.before;
    const ours = iaxBefore !== null && this.lastIax?.text === iaxBefore ? this.lastIax : null;
    if (this.lastIax) this.previousMarks = this.lastIax.marks;
    this.lastIax = iax;
    this.lastApplied = { state, owned, extText, marks: iax.marks };
    if (extChanged || force) this.dialplanVerified = null;

    this.listAfterReload = null;
    this.dialplanAfterReload = null;
    const iaxReload = iaxChanged || force ? this.reloadIax(state) : null;
    // The dial plan's Reload (with its read-back) goes right behind the chan_iax2 one's read-back, without
    // waiting for their answers: Asterisk runs one session's actions in order, so it still starts only once
    // the iax2 reload is over (they never overlap), and the run saves a round trip to Asterisk and back.
    const dialplanReload = extChanged || force ? this.reloadDialplan(state) : null;
    // Awaited below; until then a failing reload must not count as an unhandled rejection.
    iaxReload?.catch(() => undefined);
    dialplanReload?.catch(() => undefined);
    // The section diff only feeds the report.
    if (iaxChanged) {
      const sectionsBefore = ours ? ours.marks : sections(iaxBefore);
      const sectionsNow = ours ? iax.marks : iax.bodies();
      report.changes.push(...diffSectionMaps(sectionsBefore, sectionsNow, 'iax'));
    }
    if (extChanged) report.changes.push(...diffSections(extWrite.before, extText, 'dialplan'));
    if (iaxReload) {
      await iaxReload;
      report.reloaded.push(IAX_MODULE);
    }
    if (dialplanReload) {
      await dialplanReload;
      report.reloaded.push(DIALPLAN_MODULE);
    }
    // From the writes to the last reload's answer (the report's section diff runs meanwhile).
    phases.lap('reload');
    // A run is over only once what it wrote is on disk for good (the next run and a restart build on it);
    // the reconciler waits for it after recording the apply states (see ApplyReport.durable).
    report.durable = Promise.all(durable).then(() => undefined);
    report.durable.catch(() => undefined); // awaited by the reconciler; never an unhandled rejection meanwhile
    if (report.reloaded.length === 2) this.reloadedOnce = true;
    if (report.changes.length > 0) {
      this.logger.info('generated files updated', {
        component: 'asterisk',
        changes: report.changes.length,
        reloaded: report.reloaded,
        // Render and write (the temp files' fsyncs included), then the reloads with their read-backs.
        phasesMs: { write: round1(t1 - t0), reload: round1(performance.now() - t1) },
      });
    }
    return report;
  }

  /** Repairs a hand edit of a generated file at once (see generated-files-watch.ts). */
  watchDrift(onDrift: (file: string) => void): () => void {
    return this.files.watch(onDrift, this.logger);
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
  private reloadIax(state: DesiredState): Promise<void> {
    return this.reloadThenRead(IAX_MODULE, loadedMarks, (list) => {
      this.listAfterReload = { state, list };
    });
  }

  /**
   * Reloads pbx_config and reads the dial plan's steps for the verify of the
   * same state with one ShowDialPlan right behind the Reload, as reloadIax
   * does for the peers: the verify then waits for no further round trip.
   */
  private reloadDialplan(state: DesiredState): Promise<void> {
    return this.reloadThenRead(DIALPLAN_MODULE, loadedDialplanSteps, (steps) => {
      this.dialplanAfterReload = { state, steps };
    });
  }

  /**
   * Reloads a module with the read the verify wants sent right behind the
   * Reload; hands the read to `keep` only when the first attempt did the reload.
   */
  private async reloadThenRead<T>(
    module: string,
    read: (ami: AmiLink) => Promise<T>,
    keep: (read: Promise<T>) => void,
  ): Promise<void> {
    const reload = this.reloader.reload(module);
    const result = read(this.ami);
    result.catch(() => undefined); // verify may never come (a failed write or reload after it)
    const attempts = await reload;
    if (attempts === 1) keep(result);
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

  private assertConfigDir(): void {
    try {
      // Synchronous: a microsecond, where a thread pool round trip holds the run up (see replaceFileAtomic).
      fs.accessSync(this.configDir, fs.constants.W_OK);
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
      this.lastApplied?.state === state
        ? this.lastApplied.marks
        : renderIax(this.clashes.owned(state), this.clashes.renderOptions()).marks;
    const listing = (prefetched ? await prefetched.catch(() => null) : null) ?? (await this.listPeers());
    const report = checkPeers(
      state,
      listing,
      marks,
      (name) => this.clashes.reasonFor(name),
      (mark) => this.nameOfMark(mark),
    );
    const extText = this.lastApplied?.state === state ? this.lastApplied.extText : null;
    const readDialplan = opts.full === true || extText === null || this.dialplanVerified !== extText;
    const stepsAfterReload =
      this.dialplanAfterReload?.state === state ? this.dialplanAfterReload.steps : null;
    this.dialplanAfterReload = null;
    const dialplan = readDialplan
      ? ((stepsAfterReload ? await stepsAfterReload.catch(() => null) : null) ??
        (await loadedDialplanSteps(this.ami)))
      : null;
    if (!dialplan) return report;
    const dialplanOk = checkDialplan(state, this.clashes.owned(state), dialplan, report);
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

  forgetVerified(): void {
    this.dialplanVerified = null;
    this.listAfterReload = null;
    this.dialplanAfterReload = null;
  }

  /**
   * A dial plan reload (anyone's, our own echo included): the dial plan must
   * be read again before it counts as verified. What was read right behind
   * our own reloads stays: it was taken after them, and a foreign reload
   * asks for a run of its own.
   */
  forgetDialplan(): void {
    this.dialplanVerified = null;
  }

  async close(): Promise<void> {
    // Nothing held open: the files stay for Asterisk.
  }
}

/** Milliseconds per step of one apply, to 0.1 ms (see ApplyReport.phasesMs). */
class Laps {
  readonly ms: Record<string, number> = {};
  private last = performance.now();

  lap(name: string): void {
    const now = performance.now();
    this.ms[name] = Math.round((now - this.last) * 10) / 10;
    this.last = now;
  }
}

/** Both values once both promises settled; the first failure (in argument order) when one failed. */
async function settledBoth<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === 'rejected') throw ra.reason;
  if (rb.status === 'rejected') throw rb.reason;
  return [ra.value, rb.value];
}

function round1(ms: number): number {
  return Math.round(ms * 10) / 10;
}
