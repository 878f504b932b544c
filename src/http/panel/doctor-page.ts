import type { Router } from 'express';
import type { CheckResult, DoctorReport } from '../../core/diagnostics';
import { html, type SafeHtml } from './html';
import { csrfField } from './layout';
import { type PanelKit, principalOf } from './panel-kit';

/**
 * The panel's Doctor page: the same checks as GET /api/admin/doctor and
 * `uuru-fed doctor`, one item per check with what to do. Viewing it runs the
 * checks without test calls; the button runs them with a test call through
 * every peer (a POST with the CSRF token: it rings the partners).
 */

const BADGE: Record<CheckResult['status'], { cls: string; label: string }> = {
  ok: { cls: 'b-ok', label: 'ok' },
  warn: { cls: 'b-warn', label: 'warning' },
  fail: { cls: 'b-bad', label: 'failed' },
  skip: { cls: 'b-unk', label: 'skipped' },
};

function item(c: CheckResult): SafeHtml {
  const b = BADGE[c.status];
  return html`<li data-check="${c.id}" data-status="${c.status}">
    <span class="badge ${b.cls}">${b.label}</span> <strong>${c.title}</strong>
    <div>${c.detail}</div>
    ${
      c.fix && c.status !== 'ok'
        ? html`<div class="fix">
            <span class="muted">What to do:</span>
            <pre>${c.fix}</pre>
          </div>`
        : ''
    }
  </li>`;
}

export function doctorPage(r: DoctorReport, csrf: string): SafeHtml {
  const count = (s: CheckResult['status']) => r.checks.filter((c) => c.status === s).length;
  const summary =
    r.status === 'fail'
      ? 'Problems found: fix the failed checks first.'
      : r.status === 'warn'
        ? 'Nothing failed; read the warnings.'
        : 'All good.';
  const order: CheckResult['status'][] = ['fail', 'warn', 'ok', 'skip'];
  const sorted = [...r.checks].sort((a, b) => order.indexOf(a.status) - order.indexOf(b.status));
  return html`<h1>Doctor</h1>
    <section class="card doctor" aria-labelledby="doctor-summary">
      <header><h2 id="doctor-summary">${summary}</h2></header>
      <p class="small muted">
        ${count('ok')} ok, ${count('warn')} warning(s), ${count('fail')} failed, ${count('skip')} skipped;
        ${r.calls ? 'with a test call through every peer' : 'without test calls'}; took
        ${Math.round(r.durationMs)} ms. The same report: <code>uuru-fed doctor</code> and
        <code>GET /api/admin/doctor</code>.
      </p>
      <ul class="checks">
        ${sorted.map(item)}
      </ul>
      <form method="post" action="/panel/doctor" class="inline">
        ${csrfField(csrf)}<button type="submit">Run with a test call per peer</button>
      </form>
    </section>`;
}

/** Mounts GET and POST /panel/doctor on the panel's router, with the panel's own session check and page frame. */
/** GET shows the checks; the button (a form post with the CSRF token) runs them with test calls. */
export function doctorRoutes(r: Router, kit: PanelKit): void {
  const doctor = kit.deps.services.doctor;
  const show = async (call: boolean, csrf: string) => ({
    title: 'Doctor',
    body: doctorPage(await doctor.run({ call }), csrf),
  });
  kit.view('/panel/doctor', 'doctor', (_req, csrf) => show(false, csrf));
  // Not an action of the audit trail: it changes nothing (the test calls ring the partners' test extensions).
  r.post('/panel/doctor', kit.forms, kit.requireSession, async (req, res) => {
    const v = await show(true, principalOf(req).session.csrfToken);
    kit.page(req, res, v.title, 'doctor', v.body);
  });
}
