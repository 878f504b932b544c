import { z } from 'zod';
import type { Config } from '../config/schema';
import type { Clock } from '../core/clock';
import { AppError } from '../core/errors';
import { isPeerEntry, PEER_ENTRY_RULE, peerEntryMatches } from '../core/network-address';
import {
  type UnfederatedNumbersSource,
  type UnfederatedSet,
  unfederatedSet,
} from '../core/unfederated-numbers';
import type { Policy } from '../core/federation-admin';
import type { SettingStore } from './ports/setting-store';
import type { StoreTx } from './ports/transactions';
import { describeIssues } from './wire-schemas';

/**
 * Federation policy: who may request a peering. Lives in the settings table
 * under "policy" (initialised from config.federation.* on first use) so admins
 * change it at run time. Allowed/blocked lists are never published.
 */

const POLICY_KEY = 'policy';

export const policySchema = z.strictObject({
  mode: z.enum(['open', 'invite_only', 'closed']),
  allowed_peers: z.array(z.string().max(261).refine(isPeerEntry, PEER_ENTRY_RULE)).max(1000),
  blocked_peers: z.array(z.string().max(261).refine(isPeerEntry, PEER_ENTRY_RULE)).max(1000),
  allow_legacy: z.boolean(),
  unfederated_numbers: z
    .array(z.string().regex(/^[0-9]{1,16}\*?$/, 'digits, optionally ending in *'))
    .max(1000),
});

/** Whether a policy list names this partner (exactly, or below a `*.` entry). */
export function listed(list: readonly string[], serverName: string): boolean {
  return list.some((e) => peerEntryMatches(e, serverName));
}

/**
 * A list entry as older versions stored it, which also took base URLs and
 * any text: a URL becomes its server name (lower-cased authority, default
 * port dropped), what is no server name then is left out (it could never
 * match a partner). Only for reading stored policies.
 */
function legacyPeerEntry(entry: string): string | null {
  const name = normalisePeerEntry(entry);
  return isPeerEntry(name) ? name : null;
}

/** A stored policy with its peer lists in today's form (see legacyPeerEntry); anything else as stored. */
function fromStored(value: unknown): unknown {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return value;
  const v = value as Record<string, unknown>;
  const list = (l: unknown) =>
    Array.isArray(l)
      ? l.flatMap((e) => {
          const name = typeof e === 'string' ? legacyPeerEntry(e) : null;
          return name === null ? [] : [name];
        })
      : l;
  return { ...v, allowed_peers: list(v.allowed_peers), blocked_peers: list(v.blocked_peers) };
}

/** Lower-cased authority (host[:port], default ports dropped) of a URL, or the entry itself when it is a bare name. */
function normalisePeerEntry(entry: string): string {
  const trimmed = entry.trim().toLowerCase();
  if (/^https?:\/\//.test(trimmed)) {
    try {
      return new URL(trimmed).host;
    } catch {
      return trimmed;
    }
  }
  return trimmed.replace(/\/+$/, '');
}

export interface Candidate {
  serverName: string;
  dialect: 'v1' | 'v2';
}

export type Admission = { ok: true } | { ok: false; reason: string };

/** Whether the policy admits a (new) peering with this instance; blocked_peers always wins. */
export function admits(policy: Policy, c: Candidate): Admission {
  const name = c.serverName.toLowerCase();
  if (listed(policy.blocked_peers, name)) {
    return { ok: false, reason: `${c.serverName} is blocked by this instance's policy` };
  }
  if (c.dialect === 'v1' && !policy.allow_legacy) {
    return { ok: false, reason: 'legacy (v1) federation is disabled on this instance' };
  }
  if (policy.mode === 'closed')
    return { ok: false, reason: 'this instance accepts no peering requests (policy closed)' };
  if (policy.mode === 'invite_only' && !listed(policy.allowed_peers, name)) {
    return { ok: false, reason: `${c.serverName} is not invited (policy invite_only)` };
  }
  return { ok: true };
}

export class PolicyStore implements UnfederatedNumbersSource {
  private cache: Policy | null = null;

  constructor(private readonly deps: { settings: SettingStore; clock: Clock; config: Config }) {}

  private initial(): Policy {
    const f = this.deps.config.federation;
    return {
      mode: f.policyMode,
      allowed_peers: [],
      blocked_peers: [],
      allow_legacy: f.allowLegacy,
      // The configured reserved extensions and emergency numbers apply besides this list, always.
      unfederated_numbers: [],
    };
  }

  async get(): Promise<Policy> {
    if (this.cache) return this.cache;
    const value = await this.deps.settings.get(POLICY_KEY);
    const parsed = value === null || value === undefined ? null : policySchema.safeParse(fromStored(value));
    this.cache = parsed?.success ? parsed.data : this.initial();
    return this.cache;
  }

  /** Validates and stores; the caller reports what it affects. */
  async set(input: unknown, tx?: StoreTx): Promise<Policy> {
    const parsed = policySchema.safeParse(input);
    if (!parsed.success)
      throw new AppError('POLICY_INVALID', `invalid policy: ${describeIssues(parsed.error)}`);
    await this.deps.settings.put(POLICY_KEY, parsed.data, this.deps.clock.now(), tx);
    this.cache = parsed.data;
    return parsed.data;
  }

  /** The unfederated set: the policy's list ∪ the configured reserved extensions ∪ the emergency numbers. */
  async unfederatedSet(): Promise<UnfederatedSet> {
    const p = await this.get();
    const i = this.deps.config.instance;
    return unfederatedSet({
      extensionDigits: i.extensionDigits,
      policy: p.unfederated_numbers,
      reserved: i.reservedExtensions,
      emergency: i.emergencyNumbers,
    });
  }
}
