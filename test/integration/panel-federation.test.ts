import { createAdminUser } from '../../src/http/admin/admin-users';
import { systemClock } from '../../src/core/clock';

import {
  adminApi,
  call,
  type Instance,
  type PanelSession,
  panelLogin,
  startInstance,
} from './admin-fixtures';
import { waitUntil } from '../harness/wait';

/**
 * The panel's pages and forms between two real instances over HTTP (no
 * browser): create a request on A, accept it on B, see the peer, test call,
 * live updates over server-sent events, keys and policy pages, and the
 * messages built from error codes. The browser run is panel-browser.test.ts.
 */

const PASSWORD = 'panel test password';
let a: Instance;
let b: Instance;
let sa: PanelSession;
let sb: PanelSession;

beforeAll(async () => {
  [a, b] = await Promise.all([startInstance('panel-a'), startInstance('panel-b')]);
  await createAdminUser(a.app.db!, systemClock, { username: 'admin', password: PASSWORD });
  await createAdminUser(b.app.db!, systemClock, { username: 'admin', password: PASSWORD });
  [sa, sb] = await Promise.all([panelLogin(a, 'admin', PASSWORD), panelLogin(b, 'admin', PASSWORD)]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

/** Reads server-sent events until `until` accepts one; returns the parsed data. */
async function nextSnapshot(
  i: Instance,
  s: PanelSession,
  until: (fragments: Record<string, string>) => boolean,
  act?: () => Promise<void>,
): Promise<Record<string, string>> {
  const ctrl = new AbortController();
  const res = await fetch(`${i.adminUrl}/panel/events`, {
    headers: { cookie: s.cookie },
    signal: ctrl.signal,
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let acted = false;
  const timer = setTimeout(() => ctrl.abort(), 15_000);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error('event stream ended');
      buffer += decoder.decode(value, { stream: true });
      let sep: number;
      while ((sep = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, sep);
        buffer = buffer.slice(sep + 2);
        if (!block.startsWith('event: snapshot')) continue;
        const data = JSON.parse(
          block
            .split('\n')
            .find((l) => l.startsWith('data: '))!
            .slice(6),
        ) as { fragments: Record<string, string> };
        if (until(data.fragments)) return data.fragments;
        if (act && !acted) {
          acted = true;
          await act();
        }
      }
    }
  } finally {
    clearTimeout(timer);
    ctrl.abort();
  }
}

const unescapeHtml = (t: string) =>
  t
    .replace(/&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

const flashOf = async (s: PanelSession, page = '/panel/federation') => {
  const res = await s.get(page);
  const m = /<div class="flash (ok|error)"[^>]*>([^<]*)<\/div>/.exec(res.text);
  return m ? { kind: m[1], text: unescapeHtml(m[2]).trim() } : null;
};

describe('federation page', () => {
  it('shows empty tables, the new-request form and a note that Asterisk is off', async () => {
    const page = await sa.get('/panel/federation');
    expect(page.status).toBe(200);
    expect(page.text).toContain('No peers yet');
    expect(page.text).toContain('No outgoing requests');
    expect(page.text).toContain('name="partner_url"');
    expect(page.text).toContain('Asterisk integration is switched off');
    expect(page.text).toMatch(/<script src="\/panel\/assets\/panel.js"/);
    expect(page.text).not.toMatch(/<script>(?!<\/script>)/); // no inline script (CSP)
    const js = await call(a.adminUrl, 'GET', '/panel/assets/panel.js');
    expect(js.status).toBe(200);
    expect(js.text).toContain('EventSource');
  });

  it('explains a refused form with a message built from the error code', async () => {
    const res = await sa.post('/panel/federation/outgoing-requests', {
      _csrf: sa.csrf,
      name: 'bad name',
      partner_url: b.federationUrl,
      prefix: '7x',
      codec: 'alaw',
      dialect: 'auto',
    });
    expect(res.status).toBe(303);
    const flash = await flashOf(sa);
    expect(flash?.kind).toBe('error');
    expect(flash?.text).toContain('name: a peering name is 1 to 32 letters');
    expect(flash?.text).toContain('prefix: a prefix is 1 to 15 digits');
    expect(flash?.text).toContain('Correct the field');
    expect(await flashOf(sa)).toBeNull(); // shown once
  });

  it('creates a request on A, accepts it on B, shows the peer on both, live over server-sent events', async () => {
    const created = await sa.post('/panel/federation/outgoing-requests', {
      _csrf: sa.csrf,
      name: 'paneltest',
      partner_url: b.federationUrl,
      prefix: '75',
      codec: 'alaw',
      dialect: 'auto',
    });
    expect(created.status).toBe(303);
    expect(created.headers.get('location')).toBe('/panel/federation');
    expect((await flashOf(sa))?.text).toContain(`Request 'paneltest' sent to ${b.federationUrl}`);
    expect((await sa.get('/panel/federation')).text).toMatch(/data-outgoing="paneltest"[\s\S]*pending/);

    const incomingId = await waitUntil(
      async () => {
        const page = await sb.get('/panel/federation');
        return /action="\/panel\/federation\/incoming-requests\/([^/]+)\/accept"/.exec(page.text)?.[1];
      },
      { what: 'B lists the request' },
    );
    const bPage = await sb.get('/panel/federation');
    expect(bPage.text).toMatch(/data-incoming="paneltest"/);

    // A's open page gets the peer pushed once B accepts.
    const fragments = await nextSnapshot(
      a,
      sa,
      (f) => f.peers.includes('data-peer="paneltest"'),
      async () => {
        const accepted = await sb.post(`/panel/federation/incoming-requests/${incomingId}/accept`, {
          _csrf: sb.csrf,
          prefix: '85',
        });
        expect(accepted.status).toBe(303);
      },
    );
    expect(fragments.outgoing).not.toContain('data-outgoing="paneltest"');
    expect(fragments.peers).toContain('>75<');
    expect((await flashOf(sb))?.text).toContain("Accepted: peer 'paneltest' reached with prefix 85");
    expect((await sb.get('/panel/federation')).text).toContain('data-peer="paneltest"');
  });

  it('runs a test call from the panel and shows the result (JSON for the script, flash without it; with Asterisk off nothing is kept on the peer)', async () => {
    const page = await sa.get('/panel/federation');
    const action = /action="(\/panel\/federation\/peers\/[^/]+\/test-call)"/.exec(page.text)![1];
    const viaScript = await sa.post(action, { _csrf: sa.csrf }, { accept: 'application/json' });
    expect(viaScript.status).toBe(200);
    expect(viaScript.json).toMatchObject({ answered: false, error: expect.stringContaining('disabled') });
    const viaForm = await sa.post(action, { _csrf: sa.csrf });
    expect(viaForm.status).toBe(303);
    const flash = await flashOf(sa);
    expect(flash?.kind).toBe('error');
    expect(flash?.text).toContain("Test call through 'paneltest' not answered");
    expect(flash?.text).toContain('Asterisk integration is disabled');
    // last_test_call has one writer, the Asterisk layer's test caller: with Asterisk switched off no call
    // was placed and the peer's row shows no result (the answer above has returned, so the row is final).
    const row = /<tr data-peer="paneltest">[\s\S]*?<\/tr>/.exec((await sa.get('/panel/federation')).text)![0];
    expect(row).toContain('<span class="result" data-result></span>');
    expect(row).not.toContain('not answered');
  });

  it('refuses a second peering with the same partner, saying which peer and what to do', async () => {
    await sa.post('/panel/federation/outgoing-requests', {
      _csrf: sa.csrf,
      name: 'overlap',
      partner_url: b.federationUrl,
      prefix: '7',
      codec: 'alaw',
      dialect: 'auto',
    });
    const flash = await flashOf(sa);
    expect(flash?.kind).toBe('error');
    expect(flash?.text).toContain('paneltest');
    expect(flash?.text).toContain('tear the old peer down first');
  });

  it('tears the peer down through the confirm page; B updates live', async () => {
    const page = await sa.get('/panel/federation');
    const href = /href="(\/panel\/federation\/peers\/[^/]+\/teardown)"/.exec(page.text)![1];
    const confirm = await sa.get(href);
    expect(confirm.status).toBe(200);
    expect(confirm.text).toContain('Tear down paneltest?');
    expect(confirm.text).toContain('name="local_only"');
    const fragments = await nextSnapshot(
      b,
      sb,
      (f) => !f.peers.includes('data-peer="paneltest"'),
      async () => {
        const res = await sa.post(href, { _csrf: sa.csrf });
        expect(res.status).toBe(303);
      },
    );
    expect(fragments.peers).toContain('No peers yet');
    expect((await flashOf(sa))?.text).toContain("Peer 'paneltest' torn down");
  });

  it('revokes and declines requests from the panel', async () => {
    await sa.post('/panel/federation/outgoing-requests', {
      _csrf: sa.csrf,
      name: 'todecline',
      partner_url: b.federationUrl,
      prefix: '76',
      codec: 'ulaw',
      dialect: 'v2',
    });
    const incomingId = await waitUntil(
      async () => {
        const p = await sb.get('/panel/federation');
        return /action="\/panel\/federation\/incoming-requests\/([^/]+)\/decline"/.exec(p.text)?.[1];
      },
      { what: 'B lists todecline' },
    );
    expect(
      (await sb.post(`/panel/federation/incoming-requests/${incomingId}/decline`, { _csrf: sb.csrf })).status,
    ).toBe(303);
    expect((await flashOf(sb))?.text).toBe('Request declined.');
    const outId = await waitUntil(
      async () => {
        const p = await sa.get('/panel/federation');
        return /data-outgoing="todecline"[\s\S]*?declined/.test(p.text)
          ? /action="\/panel\/federation\/outgoing-requests\/([^/]+)\/revoke"/.exec(p.text)?.[1]
          : undefined;
      },
      { what: 'A shows declined' },
    );
    expect(
      (
        await sa.post(`/panel/federation/outgoing-requests/${outId}/revoke`, {
          _csrf: sa.csrf,
          local_only: 'true',
        })
      ).status,
    ).toBe(303);
    expect((await flashOf(sa))?.text).toBe('Request revoked.');
    expect((await sa.get('/panel/federation')).text).toContain('No outgoing requests');
  });
});

describe('keys and policy pages', () => {
  it('shows our fingerprints (never a private key) and rotates', async () => {
    const before = await sa.get('/panel/keys');
    expect(before.status).toBe(200);
    const keys = (await adminApi(a)('GET', '/federation/keys')).json as {
      keys: { kid: string; fingerprint: string }[];
    };
    for (const k of keys.keys) expect(before.text).toContain(k.fingerprint);
    expect(before.text).not.toMatch(/private_?key/i);
    expect((await sa.post('/panel/keys/rotate', { _csrf: sa.csrf })).status).toBe(303);
    expect((await flashOf(sa, '/panel/keys'))?.text).toContain('Key rotation started');
    const after = (await adminApi(a)('GET', '/federation/keys')).json as { keys: { kid: string }[] };
    expect(after.keys.length).toBeGreaterThan(keys.keys.length);
  });

  it('edits the policy: mode, allowed and blocked peers, legacy, unfederated numbers', async () => {
    const page = await sa.get('/panel/policy');
    expect(page.text).toContain('name="unfederated_numbers"');
    const res = await sa.post('/panel/policy', {
      _csrf: sa.csrf,
      mode: 'invite_only',
      allowed_peers: 'pbx-b.example:8443\r\n*.c.example',
      blocked_peers: 'evil.example',
      unfederated_numbers: '110\n112\n9*',
    });
    expect(res.status).toBe(303);
    expect((await flashOf(sa, '/panel/policy'))?.text).toContain('Policy saved');
    const policy = (await adminApi(a)('GET', '/federation/policy')).json;
    expect(policy).toEqual({
      mode: 'invite_only',
      allowed_peers: ['pbx-b.example:8443', '*.c.example'],
      blocked_peers: ['evil.example'],
      allow_legacy: false,
      unfederated_numbers: ['110', '112', '9*'],
    });
    const shown = await sa.get('/panel/policy');
    expect(shown.text).toMatch(/<option value="invite_only"\s+selected>/);
    expect(shown.text).toContain('evil.example');
    const bad = await sa.post('/panel/policy', {
      _csrf: sa.csrf,
      mode: 'invite_only',
      unfederated_numbers: '11x',
    });
    expect(bad.status).toBe(303);
    expect((await flashOf(sa, '/panel/policy'))?.text).toContain('unfederated_numbers');
    const extra = await sa.post('/panel/policy', { _csrf: sa.csrf, mode: 'open', sneaky: '1' });
    expect(extra.status).toBe(303);
    expect((await flashOf(sa, '/panel/policy'))?.text).toContain('unknown field(s): sneaky');
  });
});
