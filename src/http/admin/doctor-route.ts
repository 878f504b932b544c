import { z } from 'zod';
import type { DoctorReport, DoctorService } from '../../core/diagnostics';
import { type ApiRoute, defineRoute } from './route-table';

/** GET /doctor: the doctor's checks (src/doctor), with test calls on every peer when call=1. */

export const checkResultView = z.object({
  id: z.string(),
  title: z.string(),
  status: z.enum(['ok', 'warn', 'fail', 'skip']),
  detail: z.string(),
  fix: z.string().nullable(),
});

export const doctorReportView = z.object({
  status: z.enum(['ok', 'warn', 'fail']).describe('fail when any check failed, else warn when any warned'),
  calls: z.boolean().describe('whether test calls were placed'),
  started_at: z.string(),
  duration_ms: z.number().int(),
  checks: z.array(checkResultView),
});

export const doctorQuery = z.strictObject({
  call: z
    .enum(['1', '0', 'true', 'false'])
    .optional()
    .describe("1 or true: also place a test call through every peer (rings the partners' test extensions)"),
});

export function doctorView(r: DoctorReport): z.infer<typeof doctorReportView> {
  return {
    status: r.status,
    calls: r.calls,
    started_at: new Date(r.startedAt).toISOString(),
    duration_ms: Math.round(r.durationMs),
    checks: r.checks,
  };
}

export function doctorRoute(doctor: DoctorService): ApiRoute {
  return defineRoute({
    method: 'get',
    path: '/doctor',
    summary: 'Check the set-up (database, files, addresses, Asterisk, partners) and say what to fix',
    tag: 'meta',
    query: doctorQuery,
    success: {
      status: 200,
      schema: doctorReportView,
      description:
        'every check with ok, warn, fail or skip, what was found and what to do (a failed check is not an error status)',
    },
    handle: async ({ query }) => ({
      body: doctorView(await doctor.run({ call: query.call === '1' || query.call === 'true' })),
    }),
  });
}
