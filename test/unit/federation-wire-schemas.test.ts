import {
  v1IncomingRequestBody,
  v1OutgoingStatusBody,
  v2AcceptBody,
  v2DeclineBody,
  v2PeeringRequestBody,
} from '../../src/federation/wire-schemas';

/**
 * Every field a partner sends is checked by these schemas before anything is
 * stored; the host rule is the Asterisk layer's (core-network-address.test.ts).
 */

describe('partner-sent bodies are refused before storage', () => {
  const v1 = {
    id: '4f1c2a4e-0d7e-4a54-9b1b-2d0c7a5b8e11',
    name: 'uuru_peer',
    partner_uuru_host: 'http://uuru.example:8000',
    partner_iax_host: '192.0.2.10',
    partner_extension_length: 4,
    secret: 'Abcdefghijklmnopqrstuvwxyz012345',
    codec: 'g722',
  };
  const v2 = {
    request_id: '4f1c2a4e-0d7e-4a54-9b1b-2d0c7a5b8e11',
    name: 'peer_one',
    codec: 'ulaw',
    extension_length: 4,
    base_url: 'http://127.0.0.1:8080',
    iax2: { host: '127.0.0.1', port: 4569 },
    agreement_kid: 'k20260101abcdef',
  };

  it('accepts the well-formed bodies (control)', () => {
    expect(v1IncomingRequestBody.safeParse(v1).success).toBe(true);
    expect(v2PeeringRequestBody.safeParse(v2).success).toBe(true);
    expect(v2AcceptBody.safeParse({ extension_length: 4, iax2: v2.iax2, agreement_kid: 'k1' }).success).toBe(
      true,
    );
  });

  it('refuses the names chan_iax2 reads as settings, in any case, on both dialects', () => {
    for (const name of ['general', 'GENERAL', 'General', 'callnumberlimits', 'CallNumberLimits']) {
      expect(v1IncomingRequestBody.safeParse({ ...v1, name }).success).toBe(false);
      expect(v2PeeringRequestBody.safeParse({ ...v2, name }).success).toBe(false);
    }
    // Names that merely contain them are ordinary.
    for (const name of ['generally', 'general_store', 'callnumberlimits2']) {
      expect(v2PeeringRequestBody.safeParse({ ...v2, name }).success).toBe(true);
    }
  });

  it('accepts (v1 and v2) carry the partner host through the same rule', () => {
    expect(
      v2AcceptBody.safeParse({
        extension_length: 4,
        iax2: { host: '$[1+1]', port: 4569 },
        agreement_kid: 'k1',
      }).success,
    ).toBe(false);
    const status = {
      accept: true,
      secret: 'x',
      extension_length: 4,
      partner_uuru_host: 'http://uuru.example',
    };
    expect(v1OutgoingStatusBody.safeParse({ ...status, partner_iax_host: '192.0.2.1:4570' }).success).toBe(
      true,
    );
    expect(v1OutgoingStatusBody.safeParse({ ...status, partner_iax_host: '127.0.0.1\n[x]' }).success).toBe(
      false,
    );
    expect(
      v1OutgoingStatusBody.safeParse({
        ...status,
        partner_iax_host: '192.0.2.1',
        partner_uuru_host: 'http://u:p@h',
      }).success,
    ).toBe(false);
  });

  it.each([
    ['partner_iax_host', { partner_iax_host: 'peer\r\nhost=10.6.6.6' }],
    ['partner_iax_host', { partner_iax_host: '[::1' }],
    ['partner_iax_host', { partner_iax_host: '10.0.0.1:99999' }],
    ['partner_uuru_host', { partner_uuru_host: 'http://user:pass@uuru.example' }],
    ['id', { id: 'a b' }],
    ['id', { id: '../x' }],
  ])('v1: refuses a bad %s', (field, change) => {
    const r = v1IncomingRequestBody.safeParse({ ...v1, ...change });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path[0])).toContain(field);
  });

  it.each([
    ['iax2', { iax2: { host: '#include /etc/passwd', port: 4569 } }],
    ['iax2', { iax2: { host: '127.0.0.1', port: 0 } }],
    ['base_url', { base_url: 'http://127.0.0.1:8080/?secret=x' }],
    ['agreement_kid', { agreement_kid: 'k1\n[x]' }],
  ])('v2: refuses a bad %s', (field, change) => {
    const r = v2PeeringRequestBody.safeParse({ ...v2, ...change });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path[0])).toContain(field);
  });

  it('v2 decline: a reason is text for an admin to read, without control characters, lone surrogates or bidi overrides', () => {
    expect(v2DeclineBody.safeParse({ reason: 'not now, sorry 😀' }).success).toBe(true);
    expect(v2DeclineBody.safeParse({}).success).toBe(true);
    for (const reason of ['a\u0000b', 'line\nbreak', '\ud800', 'abc\u202edef', 'x'.repeat(501)]) {
      expect({ reason, ok: v2DeclineBody.safeParse({ reason }).success }).toEqual({ reason, ok: false });
    }
  });
});
