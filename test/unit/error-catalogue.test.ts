import { readFileSync } from 'node:fs';
import { BEGIN, END, PROTOCOL_MD, errorTableRows } from '../../scripts/error-table';
import { ERROR_CATALOGUE, ERROR_CODES, isErrorCode } from '../../src/core/error-catalogue';
import { AppError } from '../../src/core/errors';
import { partnerRefusal } from '../../src/federation/partner-transport';

describe('error catalogue', () => {
  it('declares each code once with a status that fits its kind and a one-line meaning', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    for (const code of ERROR_CODES) {
      const e = ERROR_CATALOGUE[code];
      expect(code).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$|^INTERNAL$/);
      expect(e.status >= 400 && e.status <= 599).toBe(true);
      if (e.kind === 'user') expect(`${code} ${e.status}`).toMatch(/ 4\d\d$/);
      else expect(`${code} ${e.status}`).toMatch(/ 5\d\d$/);
      expect(e.meaning).not.toMatch(/\n/);
      expect(e.surfaces.length).toBeGreaterThan(0);
    }
    expect(isErrorCode('FED_UNKNOWN_PEER')).toBe(true);
    expect(isErrorCode('PEER_NOT_FOUND')).toBe(false);
    expect(isErrorCode('toString')).toBe(false);
  });

  it('marks as start-up stoppers only internal refusals that retrying cannot heal', () => {
    const stoppers = ERROR_CODES.filter((c) => 'stopsStartup' in ERROR_CATALOGUE[c]);
    expect(stoppers.sort()).toEqual(['DB_CHARSET_UNSUPPORTED', 'FED_KEY_DECRYPT_FAILED']);
    for (const c of stoppers) expect(ERROR_CATALOGUE[c].surfaces).toContain('internal');
  });

  it('gives AppError its status and kind', () => {
    const e = new AppError('FED_UNKNOWN_PEER', 'no peer x');
    expect(e).toMatchObject({ code: 'FED_UNKNOWN_PEER', status: 404, kind: 'user' });
    expect(new AppError('FED_KEY_FETCH_FAILED', 'x')).toMatchObject({ status: 503, kind: 'operational' });
    expect(new AppError('FED_NO_LOCAL_KEY', 'x')).toMatchObject({ status: 500, kind: 'bug' });
    expect(e.toJSON()).toEqual({ error: 'FED_UNKNOWN_PEER', message: 'no peer x' });
  });

  it("docs/protocol.md's error table lists exactly the catalogue's codes and statuses (npm run docs:errors)", () => {
    const doc = readFileSync(PROTOCOL_MD, 'utf8');
    const section = doc.slice(doc.indexOf(BEGIN) + BEGIN.length, doc.indexOf(END));
    expect(doc.indexOf(BEGIN)).toBeGreaterThan(0);
    const rows = section
      .split('\n')
      .filter((l) => l.startsWith('| `'))
      .map((l) =>
        l
          .slice(1, -1)
          .split('|')
          .map((c) => c.trim()),
      );
    expect(rows).toEqual(errorTableRows());
  });
});

describe("a partner's refusal of our request", () => {
  const refusal = (status: number, json: unknown) => partnerRefusal({ status, json });

  it('passes on a code of ours when the status is ours too', () => {
    expect(refusal(403, { error: 'FED_POLICY_DENIED', message: 'not admitted' })).toMatchObject({
      code: 'FED_POLICY_DENIED',
      status: 403,
      message: 'the partner refused the request: not admitted',
    });
    expect(refusal(409, { error: 'FED_NAME_CONFLICT', message: 'taken' })).toMatchObject({ status: 409 });
  });

  it('is FED_PARTNER_REFUSED 409 for a code we do not know, a status that is not ours for it, or a v1 detail', () => {
    // Before the catalogue these reached the admin as 422 WHATEVER, 400 FED_POLICY_DENIED and 403 FED_PARTNER_REFUSED.
    expect(refusal(422, { error: 'WHATEVER', message: 'no' })).toMatchObject({
      code: 'FED_PARTNER_REFUSED',
      status: 409,
      message: 'the partner refused the request (HTTP 422 WHATEVER): no',
    });
    expect(refusal(400, { error: 'FED_POLICY_DENIED', message: 'no' })).toMatchObject({
      code: 'FED_PARTNER_REFUSED',
      status: 409,
    });
    expect(refusal(403, { detail: 'Unknown request!' })).toMatchObject({
      code: 'FED_PARTNER_REFUSED',
      status: 409,
      message: 'the partner refused the request (HTTP 403): Unknown request!',
    });
  });

  it('is FED_PARTNER_UNREACHABLE 502 for 401 and 5xx (before: the partner code with 502)', () => {
    expect(refusal(401, { error: 'FED_CLOCK_SKEW', message: 'skew' })).toMatchObject({
      code: 'FED_PARTNER_UNREACHABLE',
      status: 502,
      message: 'the partner could not take the request (HTTP 401 FED_CLOCK_SKEW): skew',
    });
    expect(refusal(503, { error: 'FED_UNAVAILABLE', message: 'down' })).toMatchObject({
      code: 'FED_PARTNER_UNREACHABLE',
      status: 502,
    });
    expect(refusal(500, null)).toMatchObject({ code: 'FED_PARTNER_UNREACHABLE', status: 502 });
  });
});
