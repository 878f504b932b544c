import fs from 'node:fs';
import path from 'node:path';
import { type Instance, GENERATED_IAX_FILE, startInstance } from '../harness/instance';
import { adminOk, destroyAll, incomingByName, startSidecar, type Sidecar } from '../harness/sidecar';

import { cli } from './cli-fixtures';
import { waitUntil } from '../harness/wait';

/**
 * POST /api/admin/reconcile and `uuru-fed reconcile` against a sidecar
 * process managing a real Asterisk (files backend): the report says what
 * was written, what was reloaded and which peers Asterisk verified; after
 * drift (the generated file emptied behind the sidecar's back) it names the
 * repair; with Asterisk gone it says the run could not happen.
 */

jest.setTimeout(180_000);

interface Report {
  ok: boolean;
  result: string;
  changes: { action: string; object: string }[];
  reloaded: string[];
  verified: string[];
  failed: { name: string; error: string }[];
  problems: string[];
  error: string | null;
  started_at: string | null;
  finished_at: string | null;
  phases_ms: Record<string, number>;
  asterisk: { enabled: boolean; ami: string };
}

let a: Instance;
let b: Sidecar;

beforeAll(async () => {
  [a, b] = await Promise.all([
    startInstance({
      name: 'rca',
      // The drift below is for the admin's reconcile to find: the watch on the files would repair it first,
      // and so would the scheduled reconcile (every 5 minutes by default) if its tick fell between the
      // emptying of the file and the CLI's request (a CI run once reported "0 change(s)" there).
      config: { asterisk: { watchGeneratedFiles: false }, jobs: { reconcileCron: '0 0 1 1 *' } },
    }),
    startSidecar({ name: 'rcb' }),
  ]);
  await adminOk(
    a.sidecar,
    'POST',
    '/federation/outgoing-requests',
    { name: 'rcpeer', partner_url: b.federationUrl, prefix: '71', codec: 'alaw' },
    201,
  );
  const inc = await waitUntil(() => incomingByName(b, 'rcpeer'), { what: 'B sees the request' });
  await adminOk(b, 'POST', `/federation/incoming-requests/${inc.id}/accept`, { prefix: '81' }, 200);
  await waitUntil(
    async () => {
      const res = await a.sidecar.admin('GET', '/federation/peers');
      const peers = (res.json as { peers: { name: string; apply_state: string }[] }).peers;
      return peers.find((p) => p.name === 'rcpeer')?.apply_state === 'applied';
    },
    { what: 'A applied the peer', timeoutMs: 60_000 },
  );
}, 180_000);

afterAll(async () => {
  await Promise.allSettled([a?.stop(), destroyAll([b])]);
});

const env = () => ({ UURU_ADMIN_URL: a.sidecar.adminUrl, UURU_ADMIN_TOKEN: a.sidecar.token });

it('in sync: nothing written, no reload, the peer verified', async () => {
  const res = await a.sidecar.admin('POST', '/reconcile', {});
  expect(res.status).toBe(200);
  const r = res.json as Report;
  expect(r).toMatchObject({
    ok: true,
    result: 'done',
    changes: [],
    reloaded: [],
    verified: ['rcpeer'],
    failed: [],
    problems: [],
    error: null,
    asterisk: { enabled: true, ami: 'connected' },
  });
  expect(Date.parse(r.finished_at ?? '')).toBeGreaterThanOrEqual(Date.parse(r.started_at ?? ''));
});

it('after drift: the report names the repair and the reload; the CLI prints it', async () => {
  const file = path.join(a.asterisk.configDir, GENERATED_IAX_FILE);
  expect(fs.readFileSync(file, 'utf8')).toContain('[rcpeer]');
  fs.writeFileSync(file, '');
  const run = await cli(['reconcile'], env());
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(/^reconciled: [1-9]\d* change\(s\), reloaded \S+.*, 1 peer\(s\) verified/);
  expect(run.stdout).toMatch(/rcpeer/);
  expect(fs.readFileSync(file, 'utf8')).toContain('[rcpeer]');

  fs.writeFileSync(file, '');
  const res = await a.sidecar.admin('POST', '/reconcile', {});
  const r = res.json as Report;
  expect(r.ok).toBe(true);
  expect(r.changes.length).toBeGreaterThan(0);
  expect(r.changes.map((c) => c.object).join(' ')).toContain('rcpeer');
  expect(r.reloaded.length).toBeGreaterThan(0);
  expect(r.verified).toEqual(['rcpeer']);
  // Where the run spent its time: every phase it went through, in milliseconds.
  // The files backend times its own steps (render, write, reload); the phases still add up to the run.
  expect(Object.keys(r.phases_ms)).toEqual(
    expect.arrayContaining(['read', 'build', 'render', 'write', 'reload', 'apply', 'verify', 'record']),
  );
  for (const ms of Object.values(r.phases_ms)) expect(ms).toBeGreaterThanOrEqual(0);
  const total = Object.values(r.phases_ms).reduce((x, y) => x + y, 0);
  expect(total).toBeLessThanOrEqual(Date.parse(r.finished_at ?? '') - Date.parse(r.started_at ?? '') + 5);
});

it('uuru-fed asterisk config prints the files Asterisk reads, byte for byte but for the secrets', async () => {
  const extensionsFile = GENERATED_IAX_FILE.replace(/^iax-/, 'extensions-');
  for (const [which, name] of [
    ['iax', GENERATED_IAX_FILE],
    ['extensions', extensionsFile],
  ] as const) {
    const onDisk = fs.readFileSync(path.join(a.asterisk.configDir, name), 'utf8');
    const run = await cli(['asterisk', 'config', '--file', which], env());
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    const expected = onDisk.replace(/^secret=.*$/gm, 'secret=<redacted>');
    expect(run.stdout).toBe(expected.endsWith('\n') ? expected : `${expected}\n`);
    if (which === 'iax') {
      expect(onDisk).toMatch(/^secret=(?!<redacted>)\S{20,}$/m);
      expect(run.stdout).not.toContain(/^secret=(.*)$/m.exec(onDisk)![1]);
    }
  }
});

it('Asterisk gone: the report says the run did not happen, and the CLI exits 1', async () => {
  await a.asterisk.halt();
  await waitUntil(
    async () => ((await a.sidecar.admin('GET', '/status')).json as Report).asterisk.ami !== 'connected',
    { what: 'the sidecar noticed', timeoutMs: 30_000 },
  );
  const res = await a.sidecar.admin('POST', '/reconcile', {});
  expect(res.status).toBe(200);
  expect(res.json).toMatchObject({
    ok: false,
    result: 'not_run',
    changes: [],
    error: expect.stringMatching(/not connected/i),
  });
  const run = await cli(['reconcile'], env());
  expect(run.code).toBe(1);
  expect(run.stderr).toMatch(/reconcile did not run: .*not connected/i);
});
