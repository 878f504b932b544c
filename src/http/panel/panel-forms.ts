import { z } from 'zod';
import { acceptIncomingBody, createOutgoingBody, policySchema } from '../admin/api-schemas';
import { parseInput } from '../admin/route-table';
import type { Policy } from '../../core/federation-admin';

/**
 * The panel's form bodies (urlencoded strings), validated as strictly as the
 * JSON API: an unknown field is refused. `_csrf` is checked before and
 * removed here.
 */

const checkbox = z.literal('true').optional();

export const loginForm = z.strictObject({
  // Refused before the lookup and the log line: a newline in a username would forge a log entry.
  username: z
    .string()
    .max(64)
    .refine((s) => !/[\p{Cc}\p{Cs}\u2028\u2029]/u.test(s)),
  password: z.string().max(1024),
});
export const createOutgoingForm = createOutgoingBody;
export const acceptForm = z.strictObject({ prefix: acceptIncomingBody.shape.prefix, local_only: checkbox });
export const localOnlyForm = z.strictObject({ local_only: checkbox });
export const emptyForm = z.strictObject({});
const policyForm = z.strictObject({
  mode: z.string(),
  allowed_peers: z.string().max(100000).optional(),
  blocked_peers: z.string().max(100000).optional(),
  allow_legacy: checkbox,
  unfederated_numbers: z.string().max(100000).optional(),
});

export function formBody(body: unknown): Record<string, unknown> {
  if (!body || typeof body !== 'object') return {};
  const out: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  delete out._csrf;
  return out;
}

export function parseForm<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  return parseInput(schema, formBody(body), 'body');
}

/** One entry per line (or comma); spaces around an entry go, anything else (a tab, NUL) stays and is refused. */
const lines = (text: string | undefined) =>
  (text ?? '')
    .split(/\r?\n|,/)
    .map((l) => l.replace(/^ +| +$/g, ''))
    .filter((l) => l.length > 0);

export function parsePolicyForm(body: unknown): Policy {
  const f = parseForm(policyForm, body);
  return parseInput(
    policySchema,
    {
      mode: f.mode,
      allowed_peers: lines(f.allowed_peers),
      blocked_peers: lines(f.blocked_peers),
      allow_legacy: f.allow_legacy === 'true',
      unfederated_numbers: lines(f.unfederated_numbers),
    },
    'body',
  );
}
