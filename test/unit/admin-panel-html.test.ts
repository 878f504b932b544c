import { escapeHtml, html, raw } from '../../src/http/panel/html';
import {
  peersFragment,
  incomingFragment,
  statusFragment,
  V1_NOTE,
} from '../../src/http/panel/federation-page';
import { adminMessage } from '../../src/http/panel/error-hints';
import { AppError } from '../../src/core/errors';
import type { PeerView } from '../../src/core/federation-admin';
import { DisabledAsteriskPort } from '../../src/core/asterisk-port';

const peer = (over: Partial<PeerView> = {}): PeerView => ({
  id: 'p1',
  name: 'berlin',
  asterisk_name: 'berlin',
  prefix: '70',
  partner_url: 'https://b.example',
  dialect: 'v2',
  role: 'requester',
  state: 'active',
  apply_state: 'applied',
  apply_error: null,
  reachability: 'reachable',
  latency_ms: 12,
  last_seen: '2026-01-01T00:00:00.000Z',
  link_error: null,
  link_error_at: null,
  partner_error: null,
  partner_error_at: null,
  last_error: null,
  partner_key_fingerprint: 'SHA256:abc',
  partner_iax_host: '10.0.0.2',
  partner_extension_length: 4,
  codec: 'alaw',
  last_test_call: null,
  pending_deliveries: 0,
  created_at: '2026-01-01T00:00:00.000Z',
  trunk_rotation: null,
  ...over,
});

describe('panel HTML', () => {
  it('escapes every interpolated value unless marked safe', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    const evil = '<script>alert(1)</script>';
    expect(html`<td>${evil}</td>`.value).toBe('<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>');
    expect(
      html`<td>${raw('<b>ok</b>')}${['<i>', html`<u></u>`]}${null}${undefined}${false}${0}</td>`.value,
    ).toBe('<td><b>ok</b>&lt;i&gt;<u></u>0</td>');
  });

  it('renders hostile peer data inert in the peers table', () => {
    const s = peersFragment(
      [peer({ link_error: '<img src=x onerror=alert(1)>', partner_url: 'https://x/"><script>' })],
      'tok"en',
      new DisabledAsteriskPort().status(),
    ).value;
    expect(s).not.toContain('<img src=x');
    expect(s).not.toContain('<script>');
    expect(s).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(s).toContain('value="tok&quot;en"');
  });

  it("shows the link's error and the partner's, each with its time", () => {
    const status = new DisabledAsteriskPort().status();
    const both = peersFragment(
      [
        peer({
          link_error: 'no answer to IAX2 qualify probes',
          link_error_at: '2026-01-02T03:04:05.000Z',
          partner_error: 'the partner reports this peering as unknown',
          partner_error_at: '2026-01-03T00:00:00.000Z',
        }),
      ],
      't',
      status,
    ).value.replace(/\s+/g, ' ');
    expect(both).toMatch(
      /data-partner-error> ?partner: the partner reports this peering as unknown .*2026-01-03 00:00:00 UTC/,
    );
    expect(both).toMatch(
      /data-link-error> ?link: no answer to IAX2 qualify probes .*2026-01-02 03:04:05 UTC/,
    );
    const none = peersFragment([peer()], 't', status).value;
    expect(none).not.toContain('data-link-error');
    expect(none).not.toContain('data-partner-error');
  });

  it('shows reachability with latency, or says realtime peers are not monitored', () => {
    const status = {
      ...new DisabledAsteriskPort().status(),
      enabled: true,
      monitoring: 'available' as const,
    };
    expect(peersFragment([peer()], 't', status).value).toContain('reachable · 12 ms');
    const rt = { ...status, backend: 'realtime' as const, monitoring: 'unavailable_realtime' as const };
    const s = peersFragment([peer()], 't', rt).value;
    expect(s).toContain('not monitored');
    expect(s).not.toContain('12 ms');
    const banner = statusFragment({ ...rt, ami: 'connected', ari: 'connected' }).value.replace(/\s+/g, ' ');
    expect(banner).toContain("reachability and latency of peers can't be monitored");
    expect(statusFragment({ ...status, ami: 'connected', ari: 'connected' }).value.trim()).toBe('');
    expect(statusFragment({ ...status, ami: 'disconnected', ari: 'connected' }).value).toContain(
      'AMI disconnected',
    );
    // Each failure reads differently, with its reason; monitoring paused while AMI is down is said too.
    const refused = statusFragment({
      ...status,
      ami: 'login_refused',
      amiDetail: "Asterisk at 127.0.0.1:5038 refused the login of user 'uuru': Authentication failed",
      ari: 'wrong_port',
      ariDetail: 'http://127.0.0.1:5038/ari answers HTTP 404',
      monitoring: 'unavailable_ami',
    }).value.replace(/\s+/g, ' ');
    expect(refused).toContain('AMI login refused (check the user name and password)');
    expect(refused).toContain('refused the login of user &#39;uuru&#39;: Authentication failed');
    expect(refused).toContain('ARI wrong port (something answers there, but not Asterisk)');
    expect(refused).toContain('data-state="login_refused"');
    expect(refused).toContain('Trunk monitoring is paused while AMI is not connected');
    const unreachable = statusFragment({ ...status, ami: 'unreachable', ari: 'unreachable' }).value;
    expect(unreachable).toContain('AMI unreachable (nothing answers at the configured address)');
  });

  it('says the v1 secret travels in clear', () => {
    const s = incomingFragment(
      [
        {
          id: 'i1',
          request_id: 'r1',
          name: 'legacy',
          asterisk_name: 'legacy',
          partner_url: 'http://old.example',
          partner_iax_host: '10.0.0.3',
          partner_extension_length: 3,
          codec: 'ulaw',
          dialect: 'v1',
          state: 'pending',
          partner_key_fingerprint: null,
          created_at: '2026-01-01T00:00:00.000Z',
        },
      ],
      't',
    ).value;
    expect(s).toContain(V1_NOTE);
    expect(V1_NOTE).toMatch(/secret travels in clear/);
  });
});

describe('admin messages', () => {
  it('tells what happened and what to do, from the code', () => {
    const m = adminMessage(new AppError('PREFIX_CONFLICT', "prefix 7 overlaps peer 'berlin' (prefix 70)"));
    expect(m.code).toBe('PREFIX_CONFLICT');
    expect(m.text).toMatch(/^Prefix 7 overlaps peer 'berlin' \(prefix 70\)\. Pick a prefix/);
    const v = adminMessage(
      new AppError('VALIDATION_FAILED', 'x', {
        details: {
          issues: [{ field: 'body.prefix', message: 'a prefix is 1 to 15 digits' }],
        },
      }),
    );
    expect(v.text).toBe('prefix: a prefix is 1 to 15 digits. Correct the field and submit again.');
    expect(adminMessage(new Error('boom')).code).toBe('INTERNAL');
  });
});
