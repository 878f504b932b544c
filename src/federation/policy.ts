import { z } from 'zod';
import type { DataSource, EntityManager } from 'typeorm';
import type { Config } from '../config/schema';
import type { Clock } from '../core/clock';
import { AppError } from '../core/errors';
import {
  type UnfederatedNumbersSource,
  type UnfederatedSet,
  unfederatedSet,
} from '../core/unfederated-numbers';
import type { Policy } from '../core/federation-admin';
import { SettingEntity, type Setting } from '../store/entities';
import { describeIssues } from './wire-schemas';

/**
 * Federation policy: who may request a peering. Lives in the settings table
 * under "policy" (initialised from config.federation.* on first use) so admins
 * change it at run time. Allowed/blocked lists are never published.
 */

const POLICY_KEY = 'policy';

export const policySchema = z.strictObject({
  mode: z.enum(['open', 'invite_only', 'closed']),
  allowed_peers: z.array(z.string().min(1).max(255)).max(1000),
  blocked_peers: z.array(z.string().min(1).max(255)).max(1000),
  allow_legacy: z.boolean(),
  unfederated_numbers: z
    .array(z.string().regex(/^[0-9]{1,16}\*?$/, 'digits, optionally ending in *'))
    .max(1000),
});

/** Lower-cased authority (host[:port], default ports dropped) of a URL, or the entry itself when it is a bare name. */
export function normalisePeerEntry(entry: string): string {
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
  if (policy.blocked_peers.some((e) => normalisePeerEntry(e) === name)) {
    return { ok: false, reason: `${c.serverName} is blocked by this instance's policy` };
  }
  if (c.dialect === 'v1' && !policy.allow_legacy) {
    return { ok: false, reason: 'legacy (v1) federation is disabled on this instance' };
  }
  if (policy.mode === 'closed')
    return { ok: false, reason: 'this instance accepts no peering requests (policy closed)' };
  if (policy.mode === 'invite_only' && !policy.allowed_peers.some((e) => normalisePeerEntry(e) === name)) {
    return { ok: false, reason: `${c.serverName} is not invited (policy invite_only)` };
  }
  return { ok: true };
}

export class PolicyStore implements UnfederatedNumbersSource {
  private cache: Policy | null = null;

  constructor(private readonly deps: { db: DataSource; clock: Clock; config: Config }) {}

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
    const row = await this.deps.db.getRepository(SettingEntity).findOneBy({ key: POLICY_KEY });
    const parsed = row ? policySchema.safeParse(row.value) : null;
    this.cache = parsed?.success ? parsed.data : this.initial();
    return this.cache;
  }

  /** Validates and stores; the caller reports what it affects. */
  async set(input: unknown, manager?: EntityManager): Promise<Policy> {
    const parsed = policySchema.safeParse(input);
    if (!parsed.success)
      throw new AppError('POLICY_INVALID', 400, `invalid policy: ${describeIssues(parsed.error)}`);
    const row: Setting = { key: POLICY_KEY, value: parsed.data, updatedAt: this.deps.clock.now() };
    await (manager ?? this.deps.db.manager).getRepository(SettingEntity).save(row);
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
