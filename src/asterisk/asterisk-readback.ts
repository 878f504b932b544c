import { errorMessage } from '../core/errors';
import type { AmiLink, AmiMessage } from './asterisk-links';
import { MARK_PATTERN } from './files-renderer';

/**
 * What Asterisk holds right now of what the files backend wrote, read back
 * over AMI: the marks of the loaded IAX2 peers and the steps of the loaded
 * dial plan. Reads only; files-verify.ts compares.
 */

/** The marks of the IAX2 peers Asterisk holds: each mark shown, with how many peers show it. */
export type PeerListing = Map<string, number>;

/** The marks in `iax2 show peers` (its description column), with how many peers show each. */
export async function loadedMarks(link: AmiLink): Promise<PeerListing> {
  const marks: PeerListing = new Map();
  // `match` with the global pattern answers the matched texts alone (matchAll makes a match object per peer).
  for (const m of (await link.command('iax2 show peers')).match(MARK_PATTERN) ?? []) {
    marks.set(m, (marks.get(m) ?? 0) + 1);
  }
  return marks;
}

/** Steps of the dial plan file's contexts as Asterisk holds them (ShowDialPlan), as stepKey keys. */
export async function loadedDialplanSteps(link: AmiLink): Promise<Set<string>> {
  let events: AmiMessage[];
  try {
    ({ events } = await link.listAction({ Action: 'ShowDialPlan' }));
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

/** One loaded dial plan step: context, exten, priority, app (case-insensitive), joined by NUL. */
export function stepKey(context: string, exten: string, priority: number, app: string): string {
  return [context, exten, String(priority), app.toLowerCase()].join('\u0000');
}

/** The context and exten of a stepKey. */
export function stepPlace(key: string): { context: string; exten: string } {
  const [context, exten] = key.split('\u0000');
  return { context, exten };
}
