import { ERROR_CATALOGUE, type ErrorCode } from '../core/error-catalogue';
import { AppError } from '../core/errors';
import { MAX_PARTNER_ANSWER_BYTES, ResponseTooLarge, readLimited } from './bounded-body';
import { describeFetchFailure } from './fetch-failure';
import type { PartnerCall } from './partner-call';

/** What the transport needs from the signed client (v2). */
export interface SignedSender {
  send(p: { method: string; url: string; body?: unknown }): Promise<{ status: number; json: unknown }>;
}

export interface PartnerAnswer {
  status: number;
  json: unknown;
}

/**
 * Sends a PartnerCall: v2 signed, v1 plain JSON without auth headers as µURU
 * does (but with a timeout, which µURU lacks). Network failures and timeouts
 * become AppError FED_PARTNER_UNREACHABLE, an answer larger than
 * MAX_PARTNER_ANSWER_BYTES FED_PARTNER_ANSWER_TOO_LARGE (both retried by the
 * outbox); any other HTTP answer is returned as is.
 */
export class PartnerTransport {
  private readonly observed: (call: PartnerCall) => Promise<PartnerAnswer>;

  constructor(
    private readonly deps: {
      signed: SignedSender;
      fetch: typeof fetch;
      timeoutMs: number;
      /** Wraps every call, e.g. to record the partner's health (partner-health.ts's observe). */
      observe?: (
        send: (call: PartnerCall) => Promise<PartnerAnswer>,
      ) => (call: PartnerCall) => Promise<PartnerAnswer>;
    },
  ) {
    const raw = (call: PartnerCall) => this.sendOnce(call);
    this.observed = deps.observe ? deps.observe(raw) : raw;
  }

  /** Sends the call; every outcome is seen by `observe` (partner health). */
  send(call: PartnerCall): Promise<PartnerAnswer> {
    return this.observed(call);
  }

  private async sendOnce(call: PartnerCall): Promise<PartnerAnswer> {
    if (call.dialect === 'v2') {
      return this.deps.signed.send({ method: call.method, url: call.url, body: call.body ?? undefined });
    }
    let res: Response;
    try {
      res = await this.deps.fetch(call.url, {
        method: call.method,
        headers: call.body
          ? { 'content-type': 'application/json', accept: 'application/json' }
          : { accept: 'application/json' },
        body: call.body ? JSON.stringify(call.body) : undefined,
        signal: AbortSignal.timeout(this.deps.timeoutMs),
        redirect: 'error',
      });
    } catch (e) {
      throw new AppError(
        'FED_PARTNER_UNREACHABLE',
        `partner at ${new URL(call.url).host} is unreachable: ${describeFetchFailure(e)}`,
      );
    }
    let text: string;
    try {
      text = await readLimited(res, MAX_PARTNER_ANSWER_BYTES);
    } catch (e) {
      if (e instanceof ResponseTooLarge) {
        throw new AppError(
          'FED_PARTNER_ANSWER_TOO_LARGE',
          `partner at ${new URL(call.url).host} answered HTTP ${res.status} with ${e.message}`,
        );
      }
      // The answer broke off: its status still tells what the partner decided.
      text = '';
    }
    let json: unknown;
    try {
      json = text ? (JSON.parse(text) as unknown) : null;
    } catch {
      json = { raw: text.slice(0, 200) };
    }
    return { status: res.status, json };
  }
}

/** A short human description of a partner's refusal, from either dialect's error body. */
export function describeAnswer(a: PartnerAnswer): { code: string | null; message: string } {
  const j = a.json as Record<string, unknown> | null;
  if (j && typeof j === 'object') {
    if (typeof j.error === 'string') {
      return { code: j.error, message: typeof j.message === 'string' ? j.message : j.error };
    }
    if ('detail' in j) {
      const d = j.detail;
      return { code: null, message: typeof d === 'string' ? d : JSON.stringify(d).slice(0, 300) };
    }
  }
  return { code: null, message: `HTTP ${a.status}` };
}

/** The partner's refusals of a peering request that reach our admin as they are (protocol.md, POST /peering-requests). */
export const PARTNER_REFUSALS_PASSED_ON = [
  'FED_MALFORMED',
  'FED_POLICY_DENIED',
  'FED_NAME_CONFLICT',
  'FED_ALREADY_PEERED',
  'FED_STATE_CONFLICT',
  'FED_RATE_LIMITED',
  'FED_ROTATION_UNAVAILABLE',
  'FED_ROTATION_PENDING',
] as const satisfies readonly ErrorCode[];

/**
 * The error the admin gets when a partner refuses a request we sent it. A
 * refusal (4xx other than 401) with one of PARTNER_REFUSALS_PASSED_ON and its
 * status is passed on as it is; any other
 * refusal (a v1 partner's detail, a code or status we do not know) is
 * FED_PARTNER_REFUSED, and no answer that refuses for good (401: the partner
 * could not authenticate us, 5xx) is FED_PARTNER_UNREACHABLE. The admin's
 * status always comes from our catalogue, never from the partner.
 */
export function partnerRefusal(a: PartnerAnswer): AppError {
  const d = describeAnswer(a);
  if (a.status < 400 || a.status >= 500 || a.status === 401) {
    return new AppError(
      'FED_PARTNER_UNREACHABLE',
      `the partner could not take the request (HTTP ${a.status}${d.code ? ` ${d.code}` : ''}): ${d.message}`,
    );
  }
  const passedOn = PARTNER_REFUSALS_PASSED_ON.find((c) => c === d.code);
  if (passedOn && ERROR_CATALOGUE[passedOn].status === a.status) {
    return new AppError(passedOn, `the partner refused the request: ${d.message}`);
  }
  return new AppError(
    'FED_PARTNER_REFUSED',
    `the partner refused the request (HTTP ${a.status}${d.code ? ` ${d.code}` : ''}): ${d.message}`,
  );
}
