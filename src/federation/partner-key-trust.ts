import type { Logger } from '../logging/logger';
import type { Descriptor } from './descriptor';
import { verifyEndorsement } from './endorsement';
import { fingerprint } from './key-encoding';
import type { Partner, PartnerKey } from './ports/partner-store';

/** A partner key counts as expired only this long after its expires_at (clock skew between instances). */
export const EXPIRY_SKEW_MS = 60 * 1000;

/** Whether a pinned key's expires_at (plus the skew allowance) has passed. */
export function isExpired(k: PartnerKey, now: number): boolean {
  return k.expiresAt !== undefined && Date.parse(k.expiresAt) + EXPIRY_SKEW_MS < now;
}

export function toPartnerKey(
  k: Descriptor['signing_keys'][number] | Descriptor['agreement_keys'][number],
): PartnerKey {
  return 'status' in k
    ? {
        kid: k.kid,
        alg: k.alg,
        publicKey: k.public_key,
        status: k.status,
        notBefore: k.not_before,
        expiresAt: k.expires_at,
      }
    : {
        kid: k.kid,
        alg: k.alg,
        publicKey: k.public_key,
        ...(k.not_before === undefined ? {} : { notBefore: k.not_before }),
        expiresAt: k.expires_at,
      };
}

/** What trusting a descriptor changes on the partner's row. */
export interface TrustedKeys {
  signingKeys: PartnerKey[];
  agreementKeys: PartnerKey[];
  heldKeys: PartnerKey[] | null;
  /** How many keys became trusted. */
  newlyTrusted: number;
}

/**
 * The trust policy (protocol.md, key rotation): folds a freshly fetched
 * descriptor into what we trust of a partner. 'merge': keys we trust stay
 * (metadata updated), new keys endorsed by a trusted key (also through a
 * chain of published keys) are trusted, anything else is held; keys the
 * partner stopped publishing are dropped, unless that would leave nothing
 * trusted. 'confirm': trust everything published (admin decision). Pure but
 * for the log lines: storing the outcome is the caller's job.
 */
export function trustDescriptor(
  partner: Partner,
  d: Descriptor,
  mode: 'merge' | 'confirm',
  now: number,
  logger: Logger,
): TrustedKeys {
  const trustedBefore = new Map(partner.signingKeys.map((k) => [k.kid, k]));
  let newlyTrusted = 0;
  let signingKeys: PartnerKey[];
  let agreementKeys: PartnerKey[];
  const held: PartnerKey[] = [];

  if (mode === 'confirm') {
    signingKeys = d.signing_keys.map(toPartnerKey);
    newlyTrusted += signingKeys.filter((k) => trustedBefore.get(k.kid)?.publicKey !== k.publicKey).length;
    const published = d.agreement_keys.map(toPartnerKey);
    const kept = partner.agreementKeys.filter((k) => !published.some((p) => p.kid === k.kid));
    newlyTrusted += published.filter(
      (p) => !partner.agreementKeys.some((k) => k.kid === p.kid && k.publicKey === p.publicKey),
    ).length;
    agreementKeys = [...kept, ...published];
  } else {
    const trusted = new Map<string, PartnerKey>();
    const pending = [];
    for (const k of d.signing_keys) {
      const before = trustedBefore.get(k.kid);
      if (before && before.publicKey === k.public_key) trusted.set(k.kid, toPartnerKey(k));
      else if (before)
        held.push(toPartnerKey(k)); // same kid, different key: a change nobody vouched for
      else pending.push(k);
    }
    // Keys we trust but the partner no longer lists still count as endorsers until they expire.
    const endorsers = new Map<string, PartnerKey>(trustedBefore);
    for (const [kid, k] of trusted) endorsers.set(kid, k);
    let progress = true;
    while (progress && pending.length > 0) {
      progress = false;
      for (let i = pending.length - 1; i >= 0; i--) {
        const k = pending[i];
        const endorser = k.endorsement ? endorsers.get(k.endorsement.kid) : undefined;
        if (!k.endorsement || !endorser || isExpired(endorser, now)) continue;
        const ok = verifyEndorsement({
          kid: k.kid,
          publicKey: k.public_key,
          sig: k.endorsement.sig,
          endorserPublicKey: endorser.publicKey,
        });
        if (!ok) continue;
        trusted.set(k.kid, toPartnerKey(k));
        endorsers.set(k.kid, toPartnerKey(k));
        pending.splice(i, 1);
        newlyTrusted++;
        progress = true;
        logger.info('trusted a rotated partner key (endorsed)', {
          component: 'partner-keys',
          partner: partner.serverName,
          kid: k.kid,
          endorsedBy: k.endorsement.kid,
          fingerprint: fingerprint(k.public_key),
        });
      }
    }
    held.push(...pending.map(toPartnerKey));
    signingKeys = trusted.size > 0 ? [...trusted.values()] : partner.signingKeys;

    // Agreement keys carry no endorsement: take new ones only from a descriptor whose signing keys we fully trust.
    agreementKeys = [...partner.agreementKeys];
    for (const a of d.agreement_keys) {
      const at = agreementKeys.findIndex((k) => k.kid === a.kid);
      const mine = at === -1 ? undefined : agreementKeys[at];
      if (mine && mine.publicKey === a.public_key) {
        // The same key: its dates as now published (a `next` key promoted early moves its not_before).
        agreementKeys[at] = toPartnerKey(a);
        continue;
      }
      if (mine || held.length > 0) held.push(toPartnerKey(a));
      else agreementKeys.push(toPartnerKey(a));
    }
    if (held.length > 0) {
      logger.warn('partner published an unendorsed key change; held until an admin confirms it (refresh)', {
        component: 'partner-keys',
        partner: partner.serverName,
        held: held.map((k) => ({ kid: k.kid, fingerprint: fingerprint(k.publicKey) })),
      });
    }
  }

  return { signingKeys, agreementKeys, heldKeys: held.length > 0 ? held : null, newlyTrusted };
}
