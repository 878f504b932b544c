/**
 * The panel's stylesheet and its small script, served from /panel/assets so
 * the Content-Security-Policy can forbid inline code. Everything works
 * without the script (plain forms and redirects); the script adds live
 * updates over server-sent events, the teardown dialog and in-place results.
 */

export const PANEL_CSS = `
:root { --fg:#1d2430; --muted:#5b6675; --line:#d9dee5; --bg:#f5f7fa; --card:#fff; --accent:#1f6feb;
  --ok:#1a7f37; --warn:#9a6700; --bad:#cf222e; --unk:#6e7781; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg); }
header.top { display:flex; flex-wrap:wrap; align-items:center; gap:8px 24px; padding:10px 24px; background:#24292f; color:#fff; }
header.top .brand { font-weight:600; }
header.top nav { display:flex; flex-wrap:wrap; gap:4px; flex:1; }
header.top nav a { color:#d0d7de; text-decoration:none; padding:6px 10px; border-radius:6px; }
header.top nav a[aria-current=page] { background:#3d444d; color:#fff; }
header.top .logout { display:flex; gap:8px; align-items:center; margin:0; }
header.top .who { color:#d0d7de; }
header.top button.link { color:#fff; }
main { max-width:1400px; margin:0 auto; padding:20px 24px 60px; overflow-wrap:anywhere; }
h1 { font-size:20px; margin:8px 0 16px; }
section.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:14px 16px; margin-bottom:18px; }
section.card > header { display:flex; align-items:center; gap:10px; margin-bottom:8px; }
section.card h2 { font-size:16px; margin:0; }
section.card h3 { font-size:14px; margin:14px 0 4px; }
section.card { min-width:0; }
.table-wrap { overflow-x:auto; max-width:100%; position:relative; }
.table-wrap:focus-visible { outline:2px solid var(--accent); outline-offset:2px; }
table { width:100%; border-collapse:collapse; overflow-wrap:normal; }
th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-weight:600; color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.03em; }
tr:last-child td { border-bottom:none; }
td.empty { color:var(--muted); font-style:italic; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; border:1px solid currentColor; white-space:nowrap; }
.b-ok { color:var(--ok); } .b-warn { color:var(--warn); } .b-bad { color:var(--bad); } .b-unk { color:var(--unk); }
.muted { color:var(--muted); } .small { font-size:12px; }
figure.federation-map { margin:0 auto; max-width:640px; }
ul.map-legend { display:flex; flex-wrap:wrap; gap:4px 14px; list-style:none; padding:0; margin:8px 0; }
ul.map-legend li { display:inline-flex; align-items:center; gap:4px; }
ul.plain { list-style:none; padding:0; margin:0; }
code.fp { font-size:11px; word-break:break-all; }
.note { font-size:12px; color:var(--warn); }
.flash { padding:10px 14px; border-radius:6px; margin-bottom:16px; border:1px solid; }
.flash.ok { background:#dafbe1; border-color:#4ac26b; }
.flash.error { background:#ffebe9; border-color:#ff8182; }
.banner { padding:8px 12px; border-radius:6px; background:#fff8c5; border:1px solid #d4a72c; margin-bottom:16px; }
form.inline { display:inline-flex; gap:6px; align-items:center; margin:0; }
input[type=text], input[type=url], input[type=password], select, textarea { font:inherit; padding:5px 8px; border:1px solid var(--line); border-radius:6px; background:#fff; }
input.prefix { width:80px; }
textarea { width:100%; min-height:80px; font-family:ui-monospace, monospace; }
button { white-space:nowrap; font:inherit; padding:5px 12px; border-radius:6px; border:1px solid var(--line); background:#f6f8fa; cursor:pointer; }
button.primary { background:var(--accent); border-color:var(--accent); color:#fff; }
button.danger { background:var(--bad); border-color:var(--bad); color:#fff; }
button.link { background:none; border:none; padding:0; text-decoration:underline; }
a.icon { display:inline-flex; padding:4px; border-radius:6px; color:var(--bad); }
a.icon:hover { background:#ffebe9; }
details.add { margin:4px 0 10px; }
details.add > summary { list-style:none; cursor:pointer; display:inline-flex; gap:8px; align-items:center; color:var(--accent); font-weight:600; }
details.add > summary::-webkit-details-marker { display:none; }
details.add .plus { font-size:18px; line-height:1; width:26px; height:26px; display:inline-flex; align-items:center; justify-content:center; border-radius:50%; background:var(--accent); color:#fff; }
details.add[open] .plus { background:#57606a; }
form.grid { display:grid; grid-template-columns: 200px 1fr; gap:8px 12px; align-items:center; max-width:720px; margin:8px 0 14px; }
form.grid label { color:var(--muted); }
form.grid .actions { grid-column:2; }
.row-actions { display:flex; flex-direction:column; gap:6px; align-items:flex-start; }
section.card > form.inline { margin-top:12px; }
.result { margin-left:6px; font-size:12px; }
.result.ok { color:var(--ok); } .result.bad { color:var(--bad); }
dialog { border:1px solid var(--line); border-radius:8px; padding:18px 20px; max-width:460px; }
dialog::backdrop { background:rgba(0,0,0,.35); }
dialog .actions, .confirm .actions { display:flex; gap:8px; justify-content:flex-end; margin-top:14px; }
.login { max-width:360px; margin:60px auto; }
.login form { display:grid; gap:10px; }
.login label { display:grid; gap:4px; color:var(--muted); }
.login input { width:100%; }
.skip-link { position:absolute; left:8px; top:-48px; z-index:10; padding:8px 12px; border-radius:6px; background:#fff; color:var(--accent); }
.skip-link:focus { top:8px; }
main:focus { outline:none; }
.visually-hidden { position:absolute; width:1px; height:1px; padding:0; margin:-1px; overflow:hidden; clip:rect(0 0 0 0); white-space:nowrap; border:0; }
nav.pager { display:flex; gap:16px; margin-top:12px; }
a:focus-visible, button:focus-visible, summary:focus-visible { outline:2px solid var(--accent); outline-offset:2px; }
header.top a:focus-visible, header.top button:focus-visible { outline-color:#fff; }
/* Phones: the nav wraps under the brand and sign-out, forms take one column, tables scroll in their card. */
@media (max-width: 700px) {
  header.top { padding:8px 12px; gap:6px 12px; }
  header.top .brand { flex:1; }
  header.top nav { order:3; flex-basis:100%; }
  header.top nav a { padding:8px 10px; }
  main { padding:12px 12px 40px; }
  section.card { padding:12px; }
  form.grid { grid-template-columns:1fr; }
  form.grid .actions { grid-column:1; }
  form.inline { flex-wrap:wrap; }
  .login { margin:24px auto; }
  dialog { max-width:calc(100vw - 24px); }
  /* Stacked tables (dataTable's stack): a row is a block, each cell under the last after its column's name. */
  table.stack thead { position:absolute; width:1px; height:1px; margin:-1px; overflow:hidden; clip:rect(0 0 0 0); }
  table.stack, table.stack tbody, table.stack tr, table.stack td { display:block; }
  table.stack tr { padding:6px 0; border-bottom:1px solid var(--line); }
  table.stack tr:last-child { border-bottom:none; }
  table.stack td { padding:1px 0; border:none; overflow-wrap:anywhere; }
  table.stack td.lead { font-weight:600; }
  table.stack td[data-label]::before { content:attr(data-label) ": "; color:var(--muted); font-size:12px; }
}
.doctor ul.checks { list-style:none; padding:0; margin:0; }
.doctor ul.checks li { padding:8px 0; border-top:1px solid var(--line); overflow-wrap:anywhere; }
.doctor pre { white-space:pre-wrap; overflow-wrap:anywhere; margin:4px 0 0; font-size:12px; }
`;

export const PANEL_JS = `
(function () {
  'use strict';
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute('content') : '';
  var pending = {};

  function busy(el) {
    if (el.contains(document.activeElement)) return true;
    var inputs = el.querySelectorAll('input[type=text], input[type=url], select');
    for (var i = 0; i < inputs.length; i++) {
      var inp = inputs[i];
      if (inp.tagName === 'SELECT' ? inp.selectedIndex !== 0 : inp.value !== inp.defaultValue) return true;
    }
    return el.querySelector('[data-running]') !== null;
  }
  function applyPending() {
    Object.keys(pending).forEach(function (name) {
      var el = document.querySelector('[data-live="' + name + '"]');
      if (!el) { delete pending[name]; return; }
      if (busy(el)) return;
      el.innerHTML = pending[name];
      delete pending[name];
    });
  }
  if (window.EventSource && document.querySelector('[data-live]')) {
    var es = new EventSource('/panel/events');
    es.addEventListener('snapshot', function (ev) {
      var data = JSON.parse(ev.data);
      Object.keys(data.fragments).forEach(function (name) { pending[name] = data.fragments[name]; });
      applyPending();
      var stamp = document.querySelector('[data-live-stamp]');
      if (stamp) stamp.textContent = 'live · updated ' + new Date().toLocaleTimeString();
    });
    es.addEventListener('error', function () {
      var stamp = document.querySelector('[data-live-stamp]');
      if (stamp) stamp.textContent = 'live updates paused, reconnecting…';
    });
    setInterval(applyPending, 1000);
    document.addEventListener('focusout', function () { setTimeout(applyPending, 50); });
  }

  document.addEventListener('click', function (ev) {
    var a = ev.target.closest ? ev.target.closest('a[data-teardown]') : null;
    if (!a) return;
    var dlg = document.getElementById('teardown-dialog');
    if (!dlg || !dlg.showModal) return;
    ev.preventDefault();
    dlg.querySelector('form').setAttribute('action', a.getAttribute('href'));
    dlg.querySelector('[data-peer-name]').textContent = a.getAttribute('data-peer-name');
    dlg.querySelector('input[name=local_only]').checked = false;
    dlg.showModal();
  });
  document.addEventListener('click', function (ev) {
    var b = ev.target.closest ? ev.target.closest('[data-close-dialog]') : null;
    if (b) { ev.preventDefault(); b.closest('dialog').close(); }
  });

  document.addEventListener('submit', function (ev) {
    var form = ev.target;
    var question = form.getAttribute('data-confirm');
    if (question && !window.confirm(question)) { ev.preventDefault(); return; }
    if (!form.hasAttribute('data-async')) return;
    ev.preventDefault();
    var out = form.querySelector('[data-result]');
    var button = form.querySelector('button');
    form.setAttribute('data-running', '');
    if (button) button.disabled = true;
    if (out) { out.className = 'result'; out.textContent = 'calling…'; }
    fetch(form.getAttribute('action'), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Accept': 'application/json', 'X-CSRF-Token': csrf },
      body: new URLSearchParams(new FormData(form))
    }).then(function (res) {
      return res.json().then(function (body) { return { ok: res.ok, body: body }; });
    }).then(function (r) {
      if (!out) return;
      if (!r.ok) { out.className = 'result bad'; out.textContent = r.body.message || r.body.error; return; }
      var b = r.body;
      out.className = 'result ' + (b.answered ? 'ok' : 'bad');
      out.textContent = b.answered ? 'answered in ' + b.setup_ms + ' ms' : 'not answered: ' + (b.error || 'no answer');
    }).catch(function (e) {
      if (out) { out.className = 'result bad'; out.textContent = 'request failed: ' + e; }
    }).then(function () {
      form.removeAttribute('data-running');
      if (button) button.disabled = false;
    });
  });
})();
`;
