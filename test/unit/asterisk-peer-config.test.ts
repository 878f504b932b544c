import { loadConfig } from '../../src/config/load-config';
import { AppError } from '../../src/core/errors';
import { unfederatedSet } from '../../src/core/unfederated-numbers';
import { buildDesiredState, peerObjects, renderSettingsFrom } from '../../src/asterisk/desired-state';
import {
  FRIEND_TEMPLATE,
  MARK_PREFIX,
  renderExtensionsFile,
  renderIax,
} from '../../src/asterisk/files-renderer';
import { INVALID_VALUE, validatePeer, type PeerInput } from '../../src/asterisk/peer-validation';
import { asteriskName } from '../../src/core/peering-name';
import type { Peer } from '../../src/store/entities';
import { newPeerRow } from '../harness/peer-row';
import { sameDialplan } from '../../src/asterisk/files-plan';
import { sections } from '../../src/asterisk/generated-sections';

const SECRET = 'Abcdefghijklmnopqrstuvwxyz012345';

const goodInput = (over: Partial<PeerInput> = {}): PeerInput => ({
  name: 'alice_bob',
  prefix: '55',
  partnerIaxHost: '127.0.0.1',
  partnerIaxPort: 4570,
  partnerExtensionLength: 4,
  codec: 'ulaw',
  secret: SECRET,
  ...over,
});

const peerRow = (over: Partial<Peer> = {}): Peer =>
  newPeerRow(
    {
      id: `id-${over.name ?? 'alice_bob'}`,
      partnerUrl: 'http://b.example',
      dialect: 'v2',
      role: 'requester',
      ...goodInput(),
      ...over,
    },
    0,
  );

/**
 * A section's lines as chan_iax2 gets them: Asterisk puts the lines of the
 * templates a section names (`[name](template)`) before its own.
 */
function effectiveLines(text: string, name: string): string[] {
  const parsed = sections(text);
  const header = text.split('\n').find((l) => l.startsWith(`[${name}]`)) ?? '';
  const inherited = /^\[[^\]]*\]\(([^)]*)\)/.exec(header)?.[1] ?? '';
  const own = (parsed.get(name) ?? '').split('\n');
  const fromTemplates = inherited
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '' && t !== '!')
    .flatMap((t) => (parsed.get(t) ?? '').split('\n'));
  return [...fromTemplates, ...own];
}

/**
 * Values a hostile or broken partner might send; none may reach a config file
 * as a prefix, host, codec or secret. (As a name, the Cyrillic and full-width
 * ones are legitimate: see UNICODE_NAMES.)
 */
export const HOSTILE_STRINGS = [
  'a\nb',
  'a\r\nsecret=x',
  'a;comment',
  '[general]',
  'x]',
  '#include /etc/passwd',
  '${SHELL}',
  'a,b',
  'a\u0000b',
  'аlice', // Cyrillic a
  'alice\u200b',
  'ｐｅｅｒ', // full-width
  'x'.repeat(300),
  '',
  ' ',
  '55 ',
];

/**
 * Names stock µURU accepts (Unicode word characters, at most 40 characters
 * and 79 UTF-8 bytes): a v1 partner may send them, and they reach iax.conf
 * as they are, since IAX2 authenticates a call by the exact section name.
 */
const UNICODE_NAMES = [
  'аlice', // Cyrillic a
  'ｐｅｅｒ', // full-width
  'Grüße_Ωmega',
  '中文名',
  'e\u0301te', // a combining mark
  'a\u200db', // ZWJ: a word character to µURU
  `${'ä'.repeat(39)}x`, // 40 characters, 79 bytes
];

const RESERVED_NAMES = ['general', 'GENERAL', 'CallNumberLimits'];

/**
 * Names nothing may give: config or dial plan syntax, spaces, control and
 * invisible characters, too long for µURU or for an Asterisk section name
 * (79 bytes), and iax.conf's settings sections.
 */
const HOSTILE_NAMES = [
  'a\nb',
  'a\r\nsecret=x',
  'a\rb',
  'a\tb',
  'a\u0000b',
  'a\u007fb', // DEL
  'a\u0085b', // NEL
  'a\u2028b', // line separator
  'alice\u200b', // zero-width space
  'a\u202eb', // right-to-left override
  'a;comment',
  '[general]',
  'x]',
  'a[b',
  'a=b',
  'secret=x',
  'a/b', // Dial(IAX2/<name>/...)
  'a,b',
  'a-b',
  'a.b',
  'a@b',
  '#include /etc/passwd',
  '${SHELL}',
  'a；b', // full-width semicolon
  'a＝b', // full-width equals sign
  'has space',
  ' alice',
  'alice ',
  '',
  ' ',
  'x'.repeat(41),
  'ä'.repeat(40), // 40 characters but 80 bytes
  '中'.repeat(27), // 27 characters, 81 bytes
  'x'.repeat(300),
  ...RESERVED_NAMES,
];

const settings = () =>
  renderSettingsFrom(
    loadConfig({
      env: {},
      overrides: { instance: { extensionDigits: 4 }, asterisk: { maxCallsPerPeer: 8 } },
    }),
    unfederatedSet({ extensionDigits: 4, policy: ['1000', '12*'], reserved: [], emergency: [] }),
  );

describe('peer validation', () => {
  it('accepts a well-formed peer, including hostnames and IPv6', () => {
    expect(validatePeer(goodInput()).name).toBe('alice_bob');
    expect(validatePeer(goodInput({ partnerIaxHost: 'pbx-1.example.org' })).host).toBe('pbx-1.example.org');
    expect(validatePeer(goodInput({ partnerIaxHost: '::1' })).host).toBe('::1');
  });

  it('accepts the Unicode names stock µURU accepts, exactly as they are', () => {
    for (const name of UNICODE_NAMES) expect(validatePeer(goodInput({ name })).name).toBe(name);
  });

  const fields: (keyof PeerInput)[] = ['name', 'prefix', 'partnerIaxHost', 'codec', 'secret'];
  for (const field of fields) {
    it(`refuses every hostile value in ${field} with a stable code and without echoing it`, () => {
      for (const bad of field === 'name' ? HOSTILE_NAMES : HOSTILE_STRINGS) {
        let caught: unknown;
        try {
          validatePeer(goodInput({ [field]: bad }));
        } catch (e) {
          caught = e;
        }
        expect(caught).toBeInstanceOf(AppError);
        const err = caught as AppError;
        expect(err.code).toBe(INVALID_VALUE);
        expect(err.status).toBe(400);
        expect([bad, err.details]).toEqual([bad, { field: field }]);
        // A reserved name is named by the rule itself ("not general or callnumberlimits").
        if (bad.length > 2 && !RESERVED_NAMES.includes(bad)) expect(err.message).not.toContain(bad);
      }
    });
  }

  it('refuses a peer named like an iax.conf settings section ([general], [callnumberlimits]): it could never load', () => {
    for (const name of ['general', 'GENERAL', 'callnumberlimits']) {
      expect(() => validatePeer(goodInput({ name }))).toThrow(
        /name is not valid: .*not general or callnumberlimits/,
      );
    }
    expect(validatePeer(goodInput({ name: 'general_store' })).name).toBe('general_store');
  });

  it('refuses out-of-range numbers and never shows the secret in a message', () => {
    for (const port of [0, 65536, 1.5, -1, Number.NaN]) {
      expect(() => validatePeer(goodInput({ partnerIaxPort: port }))).toThrow(/partnerIaxPort/);
    }
    expect(() => validatePeer(goodInput({ partnerExtensionLength: 13 }))).toThrow(/partnerExtensionLength/);
    expect(() => validatePeer(goodInput({ codec: 'opus' }))).toThrow(/codec/);
    try {
      validatePeer(goodInput({ secret: 'short;secret' }));
      throw new Error('accepted');
    } catch (e) {
      expect((e as AppError).message).not.toContain('short;secret');
    }
  });
});

describe('what a peer becomes', () => {
  it('gives each friend its own lines: bodies made on demand read back as the text has them, a shared address budget stays on its peers', () => {
    const rows = [
      peerRow({ name: 'one_a', prefix: '41', partnerIaxHost: '10.0.0.1' }),
      peerRow({ name: 'two_a', prefix: '42', partnerIaxHost: '10.0.0.1', codec: 'alaw' }),
      peerRow({ name: 'alone', prefix: '43', partnerIaxHost: '10.0.0.2' }),
    ];
    const s = settings();
    const first = renderIax(buildDesiredState(rows, s));
    const again = renderIax(buildDesiredState(rows, s));
    const read = sections(first.text);
    for (const name of ['one_a', 'two_a', 'alone']) expect(first.bodies().get(name)).toBe(read.get(name));
    const line = (name: string, key: string) =>
      read
        .get(name)
        ?.split('\n')
        .find((l) => l.startsWith(`${key}=`));
    // Two peers at one address each carry the address's whole budget; the peer alone keeps its own.
    const alone = Number(line('alone', 'maxcallnumbers')?.split('=')[1]);
    expect(line('one_a', 'maxcallnumbers')).toBe(`maxcallnumbers=${2 * alone}`);
    expect(line('two_a', 'maxcallnumbers')).toBe(`maxcallnumbers=${2 * alone}`);
    expect(line('two_a', 'allow')).toBe('allow=alaw');
    expect(line('one_a', 'allow')).toBe('allow=ulaw');
    // A second build under the same settings renders the same bytes (nothing shared was changed by the first).
    expect(again.text).toBe(first.text);
  });

  it('renders an IAX2 friend with the safe defaults and an ACL that ends in permit', () => {
    const text = renderIax(buildDesiredState([peerRow()], settings())).text;
    expect(text).toMatch(/^; .*\n; GENERATED by uuru-federation/);
    // The lines every friend shares come from one template section, inherited (and so read first).
    expect(text).toContain(`\n[${FRIEND_TEMPLATE}](!)\n`);
    expect(text).toContain(`\n[alice_bob](${FRIEND_TEMPLATE})\n`);
    const lines = effectiveLines(text, 'alice_bob');
    for (const line of [
      'type=friend',
      'host=127.0.0.1',
      'port=4570',
      'username=alice_bob',
      `secret=${SECRET}`,
      'context=uuru-fed-in-alice_bob',
      'encryption=yes',
      'forceencryption=yes',
      'requirecalltoken=yes',
      'transfer=no',
      // Call-quality figures of both directions need a jitter buffer on both ends (docs/asterisk.md).
      'jitterbuffer=yes',
      'qualify=yes',
      'disallow=all',
      'allow=ulaw',
      // 8 concurrent calls, 8 more ended within chan_iax2's 60 s quarantine, 7 qualify probes of that minute.
      'maxcallnumbers=23',
    ]) {
      expect(lines).toContain(line);
    }
    expect(lines.indexOf('deny=0.0.0.0/0.0.0.0')).toBeGreaterThanOrEqual(0);
    expect(lines.indexOf('deny=0.0.0.0/0.0.0.0')).toBeLessThan(
      lines.indexOf('permit=127.0.0.1/255.255.255.255'),
    );
    expect(lines.at(-2)).toBe('permit=127.0.0.1/255.255.255.255');
    expect(lines.indexOf('disallow=all')).toBeLessThan(lines.indexOf('allow=ulaw'));
    expect(lines.indexOf('host=127.0.0.1')).toBeLessThan(lines.indexOf('port=4570'));
    // The same lines as a friend written whole (the realtime preview): only their order differs.
    const whole = renderIax(buildDesiredState([peerRow()], settings()), { template: false }).text;
    expect(whole).not.toContain(FRIEND_TEMPLATE);
    const wholeLines = effectiveLines(whole, 'alice_bob');
    const withoutMark = (l: string[]) => l.filter((x) => !x.startsWith('description=')).sort();
    expect(withoutMark(lines)).toEqual(withoutMark(wholeLines));
  });

  it('marks each section with a digest of its options, which any change of the section changes', () => {
    const mark = (over: Parameters<typeof peerRow>[0] = {}) =>
      renderIax(buildDesiredState([peerRow(over)], settings())).marks.get('alice_bob');
    const rendered = renderIax(buildDesiredState([peerRow()], settings()));
    const m = rendered.marks.get('alice_bob') ?? '';
    expect(m).toMatch(new RegExp(`^${MARK_PREFIX}[0-9a-f]{12}$`));
    // The last line of the section, so chan_iax2 sets it after every other option of the section.
    expect(rendered.bodies().get('alice_bob')?.split('\n').at(-1)).toBe(`description=${m}`);
    expect(rendered.text).toContain(
      `[alice_bob](${FRIEND_TEMPLATE})\n${rendered.bodies().get('alice_bob')}\n`,
    );
    // bodies() are what sections() reads back from the text, the template's included.
    expect(rendered.bodies()).toEqual(sections(rendered.text));
    expect(mark()).toBe(m);
    for (const change of [
      { codec: 'alaw' },
      { partnerIaxPort: 4571 },
      { partnerIaxHost: '127.0.0.2' },
      { secret: `${SECRET}x` },
    ]) {
      expect(mark(change)).not.toBe(m);
    }
    // The mark covers the inherited lines too: a change of the template changes every friend's mark.
    const otherTemplate = renderIax(
      buildDesiredState([peerRow()], { ...settings(), qualifyFreqOkMs: 61_000 }),
    );
    expect(otherTemplate.text).toContain('qualifyfreqok=61000');
    expect(
      otherTemplate
        .bodies()
        .get('alice_bob')
        ?.replace(/description=.*/, ''),
    ).toBe(
      rendered
        .bodies()
        .get('alice_bob')
        ?.replace(/description=.*/, ''),
    );
    expect(otherTemplate.marks.get('alice_bob')).not.toBe(m);
    // A dial plan change alone leaves the iax section (and so its mark) as it was.
    expect(mark({ prefix: '56' })).toBe(m);
    expect(m).not.toContain(SECRET);
  });

  it('hands unchanged dial plan steps on to the next build, and builds them again when they change', () => {
    const fresh = (row: Peer, s = settings()) => peerObjects(validatePeer(row), s).steps;
    const first = buildDesiredState([peerRow()], settings()).peers[0];
    const codec = buildDesiredState([peerRow({ codec: 'alaw' })], settings()).peers[0];
    expect(codec.steps).toBe(first.steps);
    expect(codec.friend.options).toContainEqual(['allow', 'alaw']);
    expect(codec.outboundExten).toBe('_55XXXX');
    const changes: [Peer, ReturnType<typeof settings>][] = [
      [peerRow({ prefix: '56' }), settings()],
      [peerRow({ partnerExtensionLength: 5 }), settings()],
      [peerRow(), { ...settings(), maxCallsPerPeer: 3 }],
      [peerRow(), { ...settings(), blockedExtens: ['1000', '_2XXX'] }],
    ];
    for (const [row, s] of changes) {
      const built = buildDesiredState([row], s).peers[0];
      expect(built.steps).not.toBe(first.steps);
      expect(built.steps).toEqual(fresh(row, s));
      expect(built.outboundExten).toBe(built.steps[0].exten);
    }
  });

  it('tells when two states render the same dial plan, so that its text can stand', () => {
    const base = [peerRow(), peerRow({ name: 'carol', prefix: '77' })];
    const state = (rows: Peer[], over: Record<string, unknown> = {}) => {
      const s = { ...settings(), ...over };
      return buildDesiredState(rows, s);
    };
    const a = state(base);
    const cases: [string, ReturnType<typeof state>, boolean][] = [
      ['a codec', state([peerRow({ codec: 'alaw' }), base[1]]), true],
      [
        'a host, port and secret',
        state([peerRow({ partnerIaxHost: '10.0.0.9', partnerIaxPort: 4999, secret: `${SECRET}z` }), base[1]]),
        true,
      ],
      ['a prefix', state([peerRow({ prefix: '56' }), base[1]]), false],
      ['an extension length', state([peerRow({ partnerExtensionLength: 5 }), base[1]]), false],
      ['a peer more', state([...base, peerRow({ name: 'dave', prefix: '88' })]), false],
      ['a peer less', state([base[0]]), false],
      ['the calls per peer', state(base, { maxCallsPerPeer: 3 }), false],
      ['the test extension', state(base, { testExtension: '7777777' }), false],
    ];
    for (const [what, b, same] of cases) {
      expect([what, sameDialplan(a, b)]).toEqual([what, same]);
      // The point of it: equal means the same bytes.
      if (same) expect(renderExtensionsFile(b)).toBe(renderExtensionsFile(a));
      else expect(renderExtensionsFile(b)).not.toBe(renderExtensionsFile(a));
    }
  });

  it('has no ACL for a hostname partner (its address may change)', () => {
    const text = renderIax(
      buildDesiredState([peerRow({ partnerIaxHost: 'b.example.org' })], settings()),
    ).text;
    expect(text).not.toMatch(/permit=|deny=/);
  });

  it('renders the outbound pattern, the filtered inbound context and the test extension', () => {
    const text = renderExtensionsFile(buildDesiredState([peerRow()], settings()));
    expect(text).toContain('[uuru-local-federation]\nexten => _55XXXX,1,Dial(IAX2/alice_bob/${EXTEN:-4})');
    expect(text).toContain('[uuru-fed-in-alice_bob]');
    expect(text).toContain('exten => 1000,1,Hangup(21)');
    expect(text).toContain('exten => _12XX,1,Hangup(21)');
    expect(text).toContain('exten => _XXXX,1,Set(GROUP(uuru_fed)=alice_bob)');
    expect(text).toContain('exten => _XXXX,2,GotoIf($[${GROUP_COUNT(alice_bob@uuru_fed)} > 8]?5)');
    expect(text).toContain('exten => _XXXX,3,Goto(uuru-local,${EXTEN},1)');
    expect(text).toContain('exten => 9999999,2,Echo()');
  });

  it('renders a Unicode peer: section and username are the exact name, contexts and group its ASCII name', () => {
    const name = 'Grüße_Ωmega';
    const ascii = asteriskName(name);
    expect(ascii).toMatch(/^Grue_mega-[0-9a-f]{10}$/);
    const state = buildDesiredState([peerRow(), peerRow({ id: 'u', name, prefix: '77' })], settings());
    expect(state.refused).toEqual([]);
    const iax = renderIax(state);
    const body = iax.bodies().get(name) ?? '';
    // The exact name, as IAX2 authenticates: the section header and the user name sent on calls out.
    expect(iax.text).toContain(`\n[${name}](${FRIEND_TEMPLATE})\n${body}\n`);
    expect(effectiveLines(iax.text, name)).toEqual(
      expect.arrayContaining(['type=friend', `username=${name}`, `context=uuru-fed-in-${ascii}`]),
    );
    expect(iax.marks.get(name)).toMatch(new RegExp(`^${MARK_PREFIX}[0-9a-f]{12}$`));
    // Nothing else in the file is other than ASCII: only the header and the user name carry the name.
    const nonAscii = iax.text.split('\n').filter((l) => /[^\x20-\x7e]/.test(l));
    expect(nonAscii).toEqual([`[${name}](${FRIEND_TEMPLATE})`, `username=${name}`]);

    const ext = renderExtensionsFile(state);
    // Dialled by the exact name (the friend's section), everything else by the ASCII one.
    expect(ext).toContain(`exten => _77XXXX,1,Dial(IAX2/${name}/\${EXTEN:-4})`);
    expect(ext).toContain(`[uuru-fed-in-${ascii}]`);
    expect(ext).toContain(`exten => _XXXX,1,Set(GROUP(uuru_fed)=${ascii})`);
    expect(ext).toContain(`GROUP_COUNT(${ascii}@uuru_fed)`);
    expect(ext.split('\n').filter((l) => /[^\x20-\x7e]/.test(l))).toEqual([
      `exten => _77XXXX,1,Dial(IAX2/${name}/\${EXTEN:-4})`,
    ]);
    // The strict peer beside it is rendered as before.
    expect(ext).toContain('[uuru-fed-in-alice_bob]');
  });

  it('refuses a hostile row on its own: the files are byte-for-byte what they are without it', () => {
    const s = settings();
    const clean = buildDesiredState([peerRow()], s);
    for (const field of ['name', 'prefix', 'partnerIaxHost', 'codec', 'secret'] as const) {
      for (const bad of field === 'name' ? HOSTILE_NAMES : HOSTILE_STRINGS) {
        const hostile = peerRow({
          id: 'evil',
          name: field === 'name' ? bad : 'evil',
          prefix: '77',
          [field]: bad,
        });
        const state = buildDesiredState([peerRow(), hostile], s);
        expect([field, bad, state.refused.map((r) => r.id)]).toEqual([field, bad, ['evil']]);
        expect(renderIax(state).text).toBe(renderIax(clean).text);
        expect(renderExtensionsFile(state)).toBe(renderExtensionsFile(clean));
      }
    }
  });

  it('refuses a second peer with the same prefix', () => {
    const state = buildDesiredState(
      [peerRow(), peerRow({ id: 'x', name: 'other', prefix: '55' })],
      settings(),
    );
    expect(state.peers.map((p) => p.peer.name)).toEqual(['alice_bob']);
    expect(state.refused[0].error).toMatch(/prefix 55/);
  });

  it('uses one shared inbound context with a per-peer group in realtime mode', () => {
    const s = { ...settings(), inboundMode: 'shared' as const };
    const state = buildDesiredState([peerRow()], s);
    expect(state.peers[0].friend.options).toContainEqual(['context', 'uuru-federation-in']);
    expect(state.sharedSteps.map((x) => x.appData)).toContain(
      'GROUP(uuru_fed)=${CUT(CHANNEL(peername),-,1)}',
    );
  });
});
