import { isV1PeeringName, V1_PEERING_NAME_RULE } from '../core/peering-name';
import { isPartnerBaseUrl, parseHostPort } from '../core/network-address';
import type { ErrorCode } from '../core/error-catalogue';
import type { IncomingRequest, OutgoingRequest, Peer } from '../federation/ports/peering-store';
import { dialedFriend, type UuruSnapshot, uuruDialRow, KNOWN_UURU_REVISIONS } from './uuru-source';

/**
 * What `uuru-fed adopt` would do with a µURU deployment, worked out from
 * what µURU holds and what the sidecar holds, without writing anything.
 * Every refusal is listed (with its catalogue code and what to fix), so one
 * dry run shows all that stands in the way.
 */

/** µURU's codecs (an application-level literal in its models). */
export const UURU_CODECS = ['g722', 'alaw', 'ulaw', 'g726', 'gsm', 'lpc10'];
/** Dial prefixes the sidecar can hold (its numbering plan: digits only). */
const PREFIX = /^[0-9]{1,15}$/;

export type AdoptAction = 'import' | 'adopted';

export interface Conflict {
  code: ErrorCode;
  /** The µURU record it is about (peer, request), or '' for the deployment as a whole. */
  about: string;
  message: string;
}

/** An Asterisk realtime row of µURU's, named as the realtime backend names its rows. */
export interface AsteriskRowRef {
  table: 'iaxfriends' | 'extensions';
  /** iaxfriends: the name; extensions: context|exten|priority. */
  key: string;
}

export interface PeerPlan {
  kind: 'peer';
  uuruId: string;
  name: string;
  prefix: string;
  partnerUrl: string;
  codec: string;
  action: AdoptAction;
  /** µURU's Asterisk rows of this peer (the friend and its dial plan row). */
  rows: AsteriskRowRef[];
}

export interface RequestPlan {
  kind: 'outgoing' | 'incoming';
  uuruId: string;
  name: string;
  prefix: string | null;
  partnerUrl: string;
  codec: string;
  action: AdoptAction;
}

export interface AdoptPlan {
  schemaVersion: string | null;
  appEngine: string;
  peers: PeerPlan[];
  requests: RequestPlan[];
  conflicts: Conflict[];
}

/** What the sidecar holds now, read through its peering store. */
export interface SidecarState {
  peers: Peer[];
  outgoing: OutgoingRequest[];
  incoming: IncomingRequest[];
}

export const extensionKey = (r: { context: string; exten: string; priority: number }): string =>
  `${r.context}|${r.exten}|${r.priority}`;

const trimBase = (url: string): string => url.replace(/\/+$/, '');

/** What the plan says of any µURU record (a peer or a request), before its action. */
function planned<K extends PeerPlan['kind'] | RequestPlan['kind'], P extends string | null>(
  kind: K,
  r: { id: string; name: string; partnerUuruHost: string; codec: string },
  prefix: P,
) {
  return {
    kind,
    uuruId: r.id,
    name: r.name,
    prefix,
    partnerUrl: trimBase(r.partnerUuruHost),
    codec: r.codec,
  };
}

/** Whether a sidecar peer is this µURU peer, adopted before: same name, v1, same secret and prefix. */
export function isAdoptedPeer(mine: Peer, p: { name: string; secret: string; prefix: string }): boolean {
  return (
    mine.dialect === 'v1' && mine.name === p.name && mine.secret === p.secret && mine.prefix === p.prefix
  );
}

/** Prefixes that would make one number dialable two ways (equal, or one starting with the other). */
const overlaps = (a: string, b: string): boolean => a.startsWith(b) || b.startsWith(a);

export function buildPlan(uuru: UuruSnapshot, sidecar: SidecarState): AdoptPlan {
  const conflicts: Conflict[] = [];
  const refuse = (code: ErrorCode, about: string, message: string) =>
    conflicts.push({ code, about, message });
  const plan: AdoptPlan = {
    schemaVersion: uuru.schemaVersion,
    appEngine: uuru.appEngine,
    peers: [],
    requests: [],
    conflicts,
  };
  if (!uuru.schemaVersion || !KNOWN_UURU_REVISIONS[uuru.schemaVersion]) {
    refuse(
      'ADOPT_SCHEMA_UNKNOWN',
      '',
      `µURU's schema version (alembic_version) is ${uuru.schemaVersion ?? 'missing'}; this sidecar reads ` +
        `${Object.keys(KNOWN_UURU_REVISIONS).join(' and ')} only. Adopt with a sidecar release that knows it, ` +
        'or run µURU at a known revision',
    );
    return plan;
  }

  // Names the sidecar holds itself, apart from what an earlier adopt brought in.
  const adoptedPeerNames = new Set<string>();
  const adoptedRequestIds = new Set<string>();

  const checkValues = (
    about: string,
    v: { name: string; prefix: string | null; partnerUuruHost: string; codec: string; iaxHost?: string },
  ) => {
    if (!isV1PeeringName(v.name))
      refuse(
        'ADOPT_UNSUPPORTED_VALUE',
        about,
        `the name ${JSON.stringify(v.name)} is not ${V1_PEERING_NAME_RULE}`,
      );
    if (v.prefix !== null) {
      if (v.prefix === '')
        refuse(
          'ADOPT_EMPTY_PREFIX',
          about,
          `${about} has an empty prefix (its dial pattern would take every local number); give it a prefix in µURU first`,
        );
      else if (!PREFIX.test(v.prefix))
        refuse(
          'ADOPT_UNSUPPORTED_VALUE',
          about,
          `the prefix ${JSON.stringify(v.prefix)} is not 1 to 15 digits`,
        );
    }
    if (!isPartnerBaseUrl(trimBase(v.partnerUuruHost)))
      refuse(
        'ADOPT_UNSUPPORTED_VALUE',
        about,
        `the partner address ${JSON.stringify(v.partnerUuruHost)} is not an http(s) base address (µURU needs the scheme too)`,
      );
    if (!UURU_CODECS.includes(v.codec))
      refuse(
        'ADOPT_UNSUPPORTED_VALUE',
        about,
        `the codec ${JSON.stringify(v.codec)} is none of ${UURU_CODECS.join(', ')}`,
      );
    if (v.iaxHost !== undefined && !parseHostPort(v.iaxHost))
      refuse(
        'ADOPT_UNSUPPORTED_VALUE',
        about,
        `the IAX2 host ${JSON.stringify(v.iaxHost)} is not a host name or address`,
      );
  };

  for (const p of uuru.peers) {
    const about = `peer ${p.name}`;
    const mine = sidecar.peers.find((s) => s.name.toLowerCase() === p.name.toLowerCase());
    const dial = uuruDialRow(p);
    const rows: AsteriskRowRef[] = [
      { table: 'iaxfriends', key: p.name },
      { table: 'extensions', key: extensionKey(dial) },
    ];
    const base = planned('peer', p, p.prefix);
    if (mine && isAdoptedPeer(mine, p)) {
      adoptedPeerNames.add(mine.name);
      plan.peers.push({ ...base, action: 'adopted', rows });
      continue;
    }
    checkValues(about, { ...p, iaxHost: p.partnerIaxHost });
    if (mine)
      refuse(
        'ADOPT_NAME_CONFLICT',
        about,
        `the sidecar has a peer named '${mine.name}' already (${mine.dialect}); tear one down or rename it in µURU`,
      );
    for (const s of sidecar.peers) {
      if (s === mine || p.prefix === '' || !overlaps(s.prefix, p.prefix)) continue;
      refuse(
        'ADOPT_PREFIX_CONFLICT',
        about,
        `its prefix ${p.prefix} overlaps the prefix ${s.prefix} of the sidecar's peer '${s.name}'; change one of them`,
      );
    }
    for (const o of sidecar.outgoing) {
      if (o.state === 'pending' && o.name !== p.name && p.prefix !== '' && overlaps(o.prefix, p.prefix))
        refuse(
          'ADOPT_PREFIX_CONFLICT',
          about,
          `its prefix ${p.prefix} overlaps the prefix ${o.prefix} of the sidecar's pending request '${o.name}'`,
        );
    }
    for (const r of [...sidecar.outgoing, ...sidecar.incoming]) {
      if (r.state === 'pending' && r.name.toLowerCase() === p.name.toLowerCase())
        refuse(
          'ADOPT_NAME_CONFLICT',
          about,
          `a pending request of the sidecar is named '${r.name}'; decline or revoke it first`,
        );
    }
    // The two databases are written one after the other: both halves must be there, as µURU wrote them.
    const friend = uuru.friends.get(p.name);
    if (!friend)
      refuse(
        'ADOPT_HALF_DONE',
        about,
        `${about} has no iaxfriends row in µURU's Asterisk database (a half-done peering or teardown); re-create the peering in µURU or delete it there`,
      );
    else if (String(friend.secret ?? '') !== p.secret)
      refuse(
        'ADOPT_HALF_DONE',
        about,
        `${about}'s iaxfriends row has another secret than the peer (a half-done change); fix it in µURU`,
      );
    const dialed = uuru.dialRows.find((r) => r.exten === dial.exten && Number(r.priority) === 1);
    if (!dialed || dialedFriend(dialed.appdata) !== p.name)
      refuse(
        'ADOPT_HALF_DONE',
        about,
        `${about} has no dial plan row ${dial.exten} in ${dial.context} dialing it (a half-done change); re-create the peering in µURU or delete it there`,
      );
    plan.peers.push({ ...base, action: 'import', rows });
  }

  // Dial plan rows for a friend no peer names: left by a teardown that stopped between the two databases.
  const peerNames = new Set(uuru.peers.map((p) => p.name));
  for (const r of uuru.dialRows) {
    const friend = dialedFriend(r.appdata);
    if (friend && !peerNames.has(friend) && !sidecar.peers.some((s) => s.name === friend))
      refuse(
        'ADOPT_HALF_DONE',
        `dial plan row ${String(r.exten)}`,
        `µURU's Asterisk database has a dial plan row ${String(r.exten)} in ${String(r.context)} for IAX2 friend '${friend}', but no peer of that name (a half-done teardown); delete the row or re-create the peer`,
      );
  }

  for (const o of uuru.outgoing) {
    const about = `outgoing request ${o.name}`;
    const mine = sidecar.outgoing.find((s) => s.id === o.id);
    const base = planned('outgoing', o, o.prefix);
    if (mine && mine.dialect === 'v1' && mine.secret === o.secret) {
      adoptedRequestIds.add(o.id);
      plan.requests.push({ ...base, action: 'adopted' });
      continue;
    }
    checkValues(about, o);
    if (mine) refuse('ADOPT_NAME_CONFLICT', about, `the sidecar has another request with id ${o.id}`);
    for (const s of sidecar.peers) {
      if (s.name.toLowerCase() === o.name.toLowerCase() && !adoptedPeerNames.has(s.name))
        refuse('ADOPT_NAME_CONFLICT', about, `the sidecar has a peer named '${s.name}' already`);
      if (o.prefix !== '' && overlaps(s.prefix, o.prefix))
        refuse(
          'ADOPT_PREFIX_CONFLICT',
          about,
          `its prefix ${o.prefix} overlaps the prefix ${s.prefix} of the sidecar's peer '${s.name}'`,
        );
    }
    plan.requests.push({ ...base, action: 'import' });
  }

  for (const i of uuru.incoming) {
    const about = `incoming request ${i.name}`;
    const mine = sidecar.incoming.find((s) => s.requestId === i.id);
    const base = planned('incoming', i, null);
    if (mine && mine.dialect === 'v1' && mine.secret === i.secret) {
      adoptedRequestIds.add(i.id);
      plan.requests.push({ ...base, action: 'adopted' });
      continue;
    }
    checkValues(about, { ...i, prefix: null, iaxHost: i.partnerIaxHost });
    if (mine) refuse('ADOPT_NAME_CONFLICT', about, `the sidecar has another request with id ${i.id}`);
    plan.requests.push({ ...base, action: 'import' });
  }

  // µURU's own names must not clash among themselves in the sidecar, where a peer's name and prefix are unique.
  const seen = new Map<string, string>();
  for (const p of uuru.peers) {
    const other = seen.get(p.prefix);
    if (other !== undefined && p.prefix !== '')
      refuse(
        'ADOPT_PREFIX_CONFLICT',
        `peer ${p.name}`,
        `µURU's peers ${other} and ${p.name} share the prefix ${p.prefix}; the sidecar keeps one prefix per peer`,
      );
    seen.set(p.prefix, p.name);
  }
  return plan;
}

/** The plan as the CLI prints it. */
export function planText(plan: AdoptPlan, backend: 'files' | 'realtime'): string {
  const out: string[] = [];
  out.push(`µURU application database: ${plan.appEngine}, schema version ${plan.schemaVersion ?? 'missing'}`);
  out.push(`Asterisk backend of this sidecar: ${backend}`);
  if (plan.peers.length === 0 && plan.requests.length === 0 && plan.conflicts.length === 0)
    out.push('nothing to adopt: µURU has no peerings and no pending requests');
  for (const p of plan.peers) {
    const what = p.action === 'adopted' ? 'already adopted, unchanged' : 'import as a v1 peer';
    out.push(`peer ${p.name}: prefix ${p.prefix}, partner ${p.partnerUrl}, codec ${p.codec}: ${what}`);
    if (p.action === 'import') {
      const rows = p.rows.map((r) => `${r.table} ${r.key}`).join(', ');
      out.push(
        backend === 'realtime'
          ? `  Asterisk rows taken over as the sidecar's own: ${rows}`
          : `  Asterisk rows removed from µURU's database once the sidecar's files are live: ${rows}`,
      );
    }
  }
  for (const r of plan.requests) {
    const what =
      r.action === 'adopted' ? 'already adopted, unchanged' : `import as a pending v1 ${r.kind} request`;
    const prefix = r.prefix !== null ? `prefix ${r.prefix}, ` : '';
    out.push(
      `${r.kind} request ${r.name} (${r.uuruId}): ${prefix}partner ${r.partnerUrl}, codec ${r.codec}: ${what}`,
    );
  }
  for (const c of plan.conflicts) out.push(`conflict ${c.code}: ${c.message}`);
  const todo =
    plan.peers.filter((p) => p.action === 'import').length +
    plan.requests.filter((r) => r.action === 'import').length;
  out.push(
    plan.conflicts.length > 0
      ? `refused: ${plan.conflicts.length} conflict(s); nothing is changed until they are fixed`
      : todo === 0
        ? 'nothing to change'
        : `${todo} record(s) to import`,
  );
  return `${out.join('\n')}\n`;
}
