import net from 'node:net';
import type { Config } from '../config/schema';
import { errorMessage } from '../core/errors';
import { asteriskName } from '../core/peering-name';
import type { DigitClass, DigitPattern, UnfederatedSet } from '../core/unfederated-numbers';
import type { Peer } from '../store/entities';
import {
  type EpochSchedule,
  epochSecret,
  rootForPeriod,
  schedulePhaseAt,
  secretSwitchPhaseAt,
} from '../core/trunk-secret-epochs';
import { assertBlockedExten, type PeerInput, type ValidPeer, validatePeer } from './peer-validation';

/**
 * What Asterisk should hold for the peers in the database, independent of how
 * it gets there (generated files or realtime rows). Both backends render from
 * this one model, so they cannot disagree on what a peer becomes.
 */

/** One IAX2 friend: option lines in the order chan_iax2 must see them (ACLs are order-sensitive). */
export interface IaxFriend {
  name: string;
  options: [key: string, value: string][];
}

/** One dial plan step. Priorities are explicit (no labels) so realtime rows can carry them as they are. */
export interface DialplanStep {
  context: string;
  exten: string;
  priority: number;
  app: string;
  appData: string;
  /** The peer this step belongs to (for apply states). */
  peer: string;
}

export interface PeerObjects {
  peer: ValidPeer;
  friend: IaxFriend;
  /**
   * Trunk secret epochs: one `type=user` per epoch whose secret is accepted
   * now (the current one, and the neighbour during an overlap), named
   * `<peer>-e<epoch parity>`, each with one secret; the friend sends that
   * name as its username. Empty for a peer on a fixed secret.
   */
  epochUsers: IaxFriend[];
  /**
   * The IAX2 peer the outbound step dials: the friend, except with realtime
   * rows during a v1 → v2 upgrade's switch overlap, when it is the sent
   * epoch's `<peer>-e<parity>` row made a whole friend (see realtimeSwitchObjects).
   */
  dialName: string;
  /** The inbound context reserved for this peer. */
  inboundContext: string;
  /** The outbound pattern in the federation context. */
  outboundExten: string;
  steps: DialplanStep[];
}

export interface DesiredState {
  peers: PeerObjects[];
  /**
   * The option lines every friend has alike (the same tuple objects as in
   * each friend's options, in their order there): the files backend writes
   * them once, as a template section its friends inherit. None is an ACL line
   * or an `allow`, so with them first (where Asterisk puts inherited lines)
   * deny still precedes permit and `disallow=all` every allow.
   */
  friendTemplate: IaxFriend['options'];
  /** Steps shared by all peers (the realtime inbound context); empty in per_peer mode or without peers. */
  sharedSteps: DialplanStep[];
  /** Peers left out because a value failed validation; they are marked failed, nothing is written for them. */
  refused: { name: string; id: string; error: string }[];
  outboundContext: string;
}

export interface RenderSettings {
  localContext: string;
  inboundTargetContext: string;
  testExtension: string;
  extensionDigits: number;
  maxCallsPerPeer: number;
  qualifyFreqOkMs: number;
  qualifyFreqNotOkMs: number;
  /**
   * The local numbers no peer may reach, as the inbound context's hang-up
   * extensions (exact numbers and patterns such as _2XX, _20[0-4]).
   */
  blockedExtens: string[];
  /**
   * per_peer: one inbound context per peer (static files). shared: one inbound
   * context for all peers, told apart by CHANNEL(peername), because realtime
   * rows are only reached through a static context holding `switch => Realtime/`.
   */
  inboundMode: 'per_peer' | 'shared';
}

export function renderSettingsFrom(config: Config, unfederated: UnfederatedSet): RenderSettings {
  const a = config.asterisk;
  const inboundMode = a.stateBackend === 'realtime' ? 'shared' : 'per_peer';
  return {
    inboundMode,
    localContext: a.localContext,
    inboundTargetContext: a.inboundTargetContext,
    testExtension: a.testExtension,
    extensionDigits: config.instance.extensionDigits,
    maxCallsPerPeer: a.maxCallsPerPeer,
    qualifyFreqOkMs: a.qualifyFreqOkMs,
    qualifyFreqNotOkMs: a.qualifyFreqNotOkMs,
    blockedExtens: blockedExtens(unfederated.localPatterns(), inboundMode),
  };
}

const classText = ([lo, hi]: DigitClass): string =>
  lo === hi ? String(lo) : lo === 0 && hi === 9 ? 'X' : `[${lo}-${hi}]`;

/**
 * Asterisk extensions for blocked local numbers: a number of plain digits as
 * itself, a pattern as `_` + one character or class per digit. Each must win
 * over the inbound catch-all `_XXXX`. Static dial plans take the most
 * specific pattern, whatever its text. The realtime switch does not: it
 * takes the first matching row ordered by `exten` text, and `[` sorts after
 * `X`, so in shared (realtime) mode a pattern never starts with a class: a
 * leading class is written as one pattern per digit (`_[2-3]XX` as `_2XX`,
 * `_3XX`), whose first character, a digit, sorts before `X`.
 */
export function blockedExtens(patterns: DigitPattern[], mode: RenderSettings['inboundMode']): string[] {
  const out = new Set<string>();
  for (const p of patterns) {
    const text = p.map(classText);
    if (text.every((c) => /^[0-9]$/.test(c))) {
      out.add(text.join(''));
    } else if (mode === 'shared' && !/^[0-9]$/.test(text[0])) {
      for (let d = p[0][0]; d <= p[0][1]; d++) out.add(`_${d}${text.slice(1).join('')}`);
    } else {
      out.add(`_${text.join('')}`);
    }
  }
  // Built from digits only; checked anyway, as everything written to Asterisk is.
  return [...out].sort().map((e) => assertBlockedExten('blockedExtens', e));
}

/** What every per-peer inbound context's name starts with: a loaded context so named is ours. */
export const INBOUND_CONTEXT_PREFIX = 'uuru-fed-in-';
export const outboundContextName = (localContext: string): string => `${localContext}-federation`;
/** By the ASCII-safe name: a v1 peering name may be Unicode (see asteriskName), a context name stays ASCII. */
export const inboundContextName = (peerName: string): string =>
  `${INBOUND_CONTEXT_PREFIX}${asteriskName(peerName)}`;
/** The one inbound context of the realtime backend (shipped in asterisk-conf/extensions-realtime.conf). */
export const SHARED_INBOUND_CONTEXT = 'uuru-federation-in';
const inboundContextFor = (peerName: string, s: RenderSettings): string =>
  s.inboundMode === 'shared' ? SHARED_INBOUND_CONTEXT : inboundContextName(peerName);
/** GROUP category for the per-peer concurrent call limit. */
export const CALL_GROUP = 'uuru_fed';
/** Between a peering's name and its epoch user's suffix: a character no peering name holds (src/core/peering-name.ts). */
const EPOCH_USER_SEPARATOR = '-';

/** chan_iax2 keeps a call number (and its count against the address) for this long after a dialog ends. */
const CALL_NUMBER_QUARANTINE_MS = 60_000;
/** chan_iax2 reads maxcallnumbers as an unsigned 16-bit number; its whole pool is 32,766 numbers. */
const MAX_CALL_NUMBERS = 16_384;

/**
 * The `maxcallnumbers` of a peer. In chan_iax2 it is not a concurrent-call
 * limit: it sets the call-number budget of the peer's IP address, shared by
 * every peer at that address, and every dialog with the address spends a
 * number (calls both ways, and each outgoing qualify POKE) that comes back
 * only 60 s after the dialog ended. Set to maxCallsPerPeer it ran out under a
 * short qualify frequency alone (a POKE a second is 60 numbers a minute), and
 * calls then failed with "Allocation failed" for up to a minute although the
 * peer was loaded. Sized instead to the concurrent calls, one more call per
 * slot ended within the quarantine, and every probe of the quarantine; the
 * concurrent-call limit itself is the dial plan's GROUP_COUNT check.
 */
export function callNumberBudget(s: RenderSettings): number {
  const probeMs = Math.min(s.qualifyFreqOkMs, s.qualifyFreqNotOkMs);
  const probes = Math.ceil(CALL_NUMBER_QUARANTINE_MS / probeMs) + 1;
  return Math.min(MAX_CALL_NUMBERS, 2 * s.maxCallsPerPeer + probes);
}

/** Peers at one address share its budget (the last one loaded sets it): each gets the sum over the address. */
function shareCallNumberBudgets(peers: PeerObjects[], s: RenderSettings): void {
  const perHost = new Map<string, number>();
  for (const p of peers) perHost.set(p.peer.host, (perHost.get(p.peer.host) ?? 0) + 1);
  // One text per count of peers sharing an address (1,000 peers at one address: one string, not 1,000).
  const budgets = new Map<number, string>();
  for (const p of peers) {
    const sharing = perHost.get(p.peer.host) ?? 1;
    if (sharing === 1) continue;
    let budget = budgets.get(sharing);
    if (budget === undefined) {
      budget = String(Math.min(MAX_CALL_NUMBERS, sharing * callNumberBudget(s)));
      budgets.set(sharing, budget);
    }
    // The friend, and the epoch row dialled during a realtime upgrade switch (a friend too, at that address).
    for (const f of [p.friend, ...p.epochUsers]) {
      const option = f.options.find((o) => o[0] === 'maxcallnumbers');
      if (option) option[1] = budget;
    }
  }
}

/**
 * Option lines every friend has alike, made once and shared by all friends
 * (1,000 peers: some 10,000 arrays a run does not make). Nothing changes a
 * shared line: the one option changed after building, maxcallnumbers, is each
 * friend's own. (Not frozen: V8 takes slow paths on frozen arrays, e.g. for
 * every `[k, v]` destructuring of them.)
 */
const shared = (key: string, value: string): [string, string] => [key, value];
const FIXED = {
  type: shared('type', 'friend'),
  encryption: shared('encryption', 'yes'),
  forceencryption: shared('forceencryption', 'yes'),
  requirecalltoken: shared('requirecalltoken', 'yes'),
  transfer: shared('transfer', 'no'),
  jitterbuffer: shared('jitterbuffer', 'yes'),
  qualify: shared('qualify', 'yes'),
  disallow: shared('disallow', 'all'),
  deny4: shared('deny', '0.0.0.0/0.0.0.0'),
  deny6: shared('deny', '::/0'),
};

/** The option lines that depend on the settings alone, once per settings object. */
interface SettingsLines {
  ok: [string, string];
  notOk: [string, string];
  budget: string;
  /** sharedOptions, once. */
  shared: IaxFriend['options'];
  /** `allow` per codec: a friend's codec line is one of a few, shared like the fixed lines. */
  allow: Map<string, [string, string]>;
}
const settingsLines = new WeakMap<RenderSettings, SettingsLines>();

function linesOf(s: RenderSettings): SettingsLines {
  let l = settingsLines.get(s);
  if (!l) {
    const ok = shared('qualifyfreqok', String(s.qualifyFreqOkMs));
    const notOk = shared('qualifyfreqnotok', String(s.qualifyFreqNotOkMs));
    l = {
      ok,
      notOk,
      budget: String(callNumberBudget(s)),
      shared: sharedOptions(ok, notOk),
      allow: new Map(),
    };
    settingsLines.set(s, l);
  }
  return l;
}

/**
 * The lines of friendTemplate: those of friendFor that depend on the settings
 * alone, in friendFor's order, as the very tuples friendFor puts in each friend.
 */
function templateLines(s: RenderSettings): IaxFriend['options'] {
  return [FIXED.type, ...linesOf(s).shared];
}

/** The options every friend has alike, after its own addressing lines, in the order friendFor writes them. */
function sharedOptions(ok: [string, string], notOk: [string, string]): IaxFriend['options'] {
  return [
    FIXED.encryption,
    FIXED.forceencryption,
    FIXED.requirecalltoken,
    FIXED.transfer,
    // The jitter buffer makes chan_iax2 measure inbound jitter and loss (else -1) and report them to the
    // partner: the call-quality figures of both directions need it on both ends (docs/asterisk.md).
    FIXED.jitterbuffer,
    FIXED.qualify,
    ok,
    notOk,
    FIXED.disallow,
  ];
}

/**
 * A friend's options in chan_iax2's order. Built with pushes, not spreads (1,000 friends a run: no
 * intermediate arrays); the lines every friend has alike, and its `allow`, are shared tuples.
 */
export function friendFor(
  p: ValidPeer,
  s: RenderSettings,
  context: string = inboundContextFor(p.name, s),
): IaxFriend {
  const l = linesOf(s);
  const options: [string, string][] = [
    FIXED.type,
    ['host', p.host],
    ['port', String(p.port)],
    // On epochs the username names the epoch user the partner checks our secret against.
    [
      'username',
      p.sendEpoch === undefined || p.sendEpoch === null ? p.name : epochUserName(p.name, p.sendEpoch),
    ],
  ];
  // After a v1 → v2 upgrade's switch, during the overlap: the v1 secret first (accepted inbound under the
  // peering name, which a partner that has not switched yet still sends), the sent one last.
  if (p.alsoAcceptFirst !== undefined) options.push(['secret', p.alsoAcceptFirst]);
  options.push(['secret', p.secret], ['context', context]);
  for (let i = 0; i < l.shared.length; i++) options.push(l.shared[i]);
  let allow = l.allow.get(p.codec);
  if (allow === undefined) {
    allow = shared('allow', p.codec);
    l.allow.set(p.codec, allow);
  }
  // Each friend's own maxcallnumbers: shareCallNumberBudgets may change it.
  options.push(allow, ['maxcallnumbers', l.budget]);
  const family = net.isIP(p.host);
  // Last matching rule wins in Asterisk ACLs: deny everything, then permit the partner.
  if (family !== 0) {
    options.push(family === 4 ? FIXED.deny4 : FIXED.deny6, [
      'permit',
      family === 4 ? `${p.host}/255.255.255.255` : `${p.host}/128`,
    ]);
  }
  return { name: p.name, options };
}

/**
 * Inbound steps: unfederated numbers of the local length hang up (an exact
 * number or a more specific pattern wins over the catch-all), every other
 * local number goes on to the target context while the peer's concurrent
 * calls stay under the limit; the test extension answers with Echo.
 */
export function inboundSteps(p: ValidPeer | null, s: RenderSettings): DialplanStep[] {
  const context = p ? inboundContextName(p.name) : SHARED_INBOUND_CONTEXT;
  const owner = p ? p.name : '';
  // In the shared context the group is the calling peer's name, known only at call time. CHANNEL(peername)
  // is the IAX2 user the call authenticated as, so a call on a trunk secret epoch reads `<peer>-e<parity>`
  // (measured on a realtime Asterisk 22): the part before the first `-` is the peering name (no peering
  // name holds a `-`), so both epoch users of an overlap count under one limit.
  const groupName = p ? asteriskName(p.name) : `\${CUT(CHANNEL(peername),${EPOCH_USER_SEPARATOR},1)}`;
  const steps: DialplanStep[] = [];
  const add = (exten: string, priority: number, app: string, appData: string) =>
    steps.push({ context, exten, priority, app, appData, peer: owner });
  for (const exten of s.blockedExtens) add(exten, 1, 'Hangup', '21');
  const all = `_${'X'.repeat(s.extensionDigits)}`;
  add(all, 1, 'Set', `GROUP(${CALL_GROUP})=${groupName}`);
  add(all, 2, 'GotoIf', `$[\${GROUP_COUNT(${groupName}@${CALL_GROUP})} > ${s.maxCallsPerPeer}]?5`);
  add(all, 3, 'Goto', `${s.inboundTargetContext},\${EXTEN},1`);
  add(all, 4, 'Hangup', '');
  add(all, 5, 'Congestion', '');
  add(s.testExtension, 1, 'Answer', '');
  add(s.testExtension, 2, 'Echo', '');
  add(s.testExtension, 3, 'Hangup', '');
  return steps;
}

export function outboundStep(p: ValidPeer, s: RenderSettings, dialName: string = p.name): DialplanStep {
  const L = p.extensionLength;
  return {
    context: outboundContextName(s.localContext),
    exten: `_${p.prefix}${'X'.repeat(L)}`,
    priority: 1,
    app: 'Dial',
    appData: `IAX2/${dialName}/\${EXTEN:-${L}}`,
    peer: p.name,
  };
}

/** A peer's dial plan steps with what they are made of (besides the settings): see buildDesiredState. */
interface KnownSteps {
  prefix: string;
  extensionLength: number;
  dialName: string;
  steps: DialplanStep[];
}
type StepsMemo = Map<string, KnownSteps>;

export function peerObjects(
  p: ValidPeer,
  s: RenderSettings,
  memo: { last: StepsMemo | null; next: StepsMemo } | null = null,
): PeerObjects {
  const inboundContext = inboundContextFor(p.name, s);
  const trunk = s.inboundMode === 'shared' ? realtimeSwitchObjects(p, s) : null;
  const friend = trunk?.friend ?? friendFor(p, s, inboundContext);
  const dialName = trunk?.dialName ?? p.name;
  // The steps depend on the settings and on these four values only (see inboundSteps, outboundStep); the
  // memo is by name, so a peer whose other three are unchanged gets the same entry again (nothing made).
  const known = memo?.last?.get(p.name);
  const same =
    known !== undefined &&
    known.prefix === p.prefix &&
    known.extensionLength === p.extensionLength &&
    known.dialName === dialName;
  const entry: KnownSteps = same
    ? known
    : {
        prefix: p.prefix,
        extensionLength: p.extensionLength,
        dialName,
        steps:
          s.inboundMode === 'shared'
            ? [outboundStep(p, s, dialName)]
            : [outboundStep(p, s), ...inboundSteps(p, s)],
      };
  memo?.next.set(p.name, entry);
  const steps = entry.steps;
  return {
    peer: p,
    friend,
    epochUsers: trunk?.epochUsers ?? epochUsersFor(p, friend),
    dialName,
    inboundContext,
    // The first step is the outbound one.
    outboundExten: steps[0].exten,
    steps,
  };
}

/**
 * The steps of the last build, per peer, under the settings they were built
 * with. Steps are never changed once built, so a build under the same settings
 * hands a peer whose name, prefix and extension length are unchanged the same
 * steps again (a change of codec, host or secret leaves them as they were):
 * with 1,000 peers that is some 9,000 objects a run does not make, and a
 * dial plan that is known to be the same without comparing text.
 */
let lastSteps: { settings: string; byPeer: StepsMemo } | null = null;

/**
 * Builds the desired state from peer rows. A peer whose values fail
 * validation is refused on its own and never rendered; the others are
 * unaffected. Peers are sorted by name so the output is stable.
 */
/** A peer's secrets at a moment: its epoch's secret to send, and the epochs whose secrets it accepts. */
export function withEpochSecrets(
  p: ValidPeer,
  at: SecretClock,
  forced: EpochSchedule = { secretEpochSeconds: null },
): ValidPeer {
  if (p.secretEpochSeconds === null) return p;
  const e = schedulePhaseAt({ ...forced, secretEpochSeconds: p.secretEpochSeconds }, at.now, at.overlapMs);
  // Each epoch's secret derives from the root of its period (an agreement key rotation changes it at a boundary).
  const len = p.secretEpochSeconds * 1000;
  const sent = { epoch: e.epoch, secret: epochSecret(rootForPeriod(p, e.period, len), e.epoch) };
  const neighbour =
    e.neighbour === 0
      ? null
      : {
          epoch: e.epoch + e.neighbour,
          secret: epochSecret(rootForPeriod(p, e.neighbourPeriod, len), e.epoch + e.neighbour),
        };
  const accepted = neighbour === null ? [sent] : [sent, neighbour].sort((a, b) => a.epoch - b.epoch);
  const onEpochs: ValidPeer = {
    ...p,
    secret: sent.secret,
    sendEpoch: e.epoch,
    acceptEpochs: accepted,
  };
  // A v1 → v2 upgrade switching (docs/protocol.md, "Upgrading a v1 peering"): before the agreed moment the
  // friend still sends the v1 secret under the peering name (the epoch users accept the v2 secret already);
  // after it, the v1 secret stays accepted under the peering name for the overlap.
  const previous = p.previousSecret;
  switch (secretSwitchPhaseAt(p, at.now, at.overlapMs)) {
    case 'before':
      return previous === null ? onEpochs : { ...onEpochs, secret: previous, sendEpoch: null };
    case 'after':
      return previous === null ? onEpochs : { ...onEpochs, alsoAcceptFirst: previous };
    default:
      return onEpochs;
  }
}

/**
 * Realtime rows of a v1 → v2 upgrade in its switch overlap (docs/asterisk.md,
 * "A v1 peering upgraded to v2"), or null outside it. A realtime row holds one
 * `secret` (a `;` list is sent literally outbound) and `iaxfriends.name` is
 * unique, so the files backend's friend with two secret lines has no row form.
 * Instead the `<peer>` friend keeps the v1 secret (a partner that has not
 * switched yet still calls as `<peer>` with it), and the sent epoch's
 * `<peer>-e<parity>` row becomes a whole friend (host, port, the sent secret
 * under that username) that the outbound step dials; a neighbour epoch's row
 * stays a user.
 */
function realtimeSwitchObjects(
  p: ValidPeer,
  s: RenderSettings,
): { friend: IaxFriend; epochUsers: IaxFriend[]; dialName: string } | null {
  const v1 = p.alsoAcceptFirst;
  if (v1 === undefined || p.sendEpoch === undefined || p.sendEpoch === null) return null;
  const sent: ValidPeer = { ...p, alsoAcceptFirst: undefined };
  const dialName = epochUserName(p.name, p.sendEpoch);
  const friend = friendFor({ ...sent, secret: v1, sendEpoch: null }, s);
  const dialled = { ...friendFor(sent, s), name: dialName };
  const epochUsers = epochUsersFor(sent, friend).map((u) => (u.name === dialName ? dialled : u));
  return { friend, epochUsers, dialName };
}

/** The IAX2 user that checks the secret of an epoch: two names alternate, so neighbouring epochs never share one. */
export const epochUserName = (peerName: string, epoch: number): string =>
  `${peerName}${EPOCH_USER_SEPARATOR}e${epoch % 2}`;

/** The friend's options an epoch user inherits (the inbound half). */
const EPOCH_USER_OPTIONS = new Set([
  'context',
  'encryption',
  'forceencryption',
  'requirecalltoken',
  'transfer',
  'disallow',
  'allow',
  'deny',
  'permit',
]);

/** The inbound half of a friend, for one epoch's secret (see PeerObjects.epochUsers). */
export function epochUsersFor(p: ValidPeer, friend: IaxFriend): IaxFriend[] {
  // A peer on a fixed secret has none: no set, no filtered copy of its options (1,000 peers, every run).
  if (p.acceptEpochs === undefined || p.acceptEpochs.length === 0) return [];
  const inherited = friend.options.filter(([k]) => EPOCH_USER_OPTIONS.has(k));
  return p.acceptEpochs.map(({ epoch, secret }) => ({
    name: epochUserName(p.name, epoch),
    options: [['type', 'user'], ['secret', secret], ...inherited] as [string, string][],
  }));
}

/** The moment a desired state is built for, and the overlap around epoch boundaries (trunk secret epochs). */
export interface SecretClock {
  now: number;
  overlapMs: number;
}

export function buildDesiredState(
  peers: (PeerInput & Pick<Peer, 'id'>)[],
  s: RenderSettings,
  at: SecretClock = { now: Date.now(), overlapMs: 86_400_000 },
): DesiredState {
  const sorted = [...peers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const result: DesiredState = {
    peers: [],
    sharedSteps: [],
    refused: [],
    outboundContext: outboundContextName(s.localContext),
    friendTemplate: templateLines(s),
  };
  const seenPrefixes = new Set<string>();
  const settingsKey = JSON.stringify(s);
  const memo = {
    last: lastSteps?.settings === settingsKey ? lastSteps.byPeer : null,
    next: new Map() as StepsMemo,
  };
  for (const row of sorted) {
    try {
      const valid = withEpochSecrets(validatePeer(row), at, {
        secretEpochSeconds: null,
        secretEpochOffset: row.secretEpochOffset ?? 0,
        secretShiftAt: row.secretShiftAt ?? null,
      });
      if (seenPrefixes.has(valid.prefix)) throw new Error(`prefix ${valid.prefix} is used by another peer`);
      seenPrefixes.add(valid.prefix);
      result.peers.push(peerObjects(valid, s, memo));
    } catch (e) {
      result.refused.push({ name: row.name, id: row.id, error: errorMessage(e) });
    }
  }
  lastSteps = { settings: settingsKey, byPeer: memo.next };
  shareCallNumberBudgets(result.peers, s);
  if (s.inboundMode === 'shared' && result.peers.length > 0) result.sharedSteps = inboundSteps(null, s);
  return result;
}
