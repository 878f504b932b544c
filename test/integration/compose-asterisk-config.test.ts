import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { defaultChrootDir } from '../harness/asterisk';

/**
 * The compose example's Asterisk side without Docker (no engine runs here):
 * its entry point run on a copy of the config folder Debian's asterisk package
 * installs (from the test chroot, the same package the example's image
 * installs), and the shared-folder permissions it sets tried with the real
 * kernel and the sidecar's own writer (writeFileAtomic) as an unprivileged
 * user who holds the asterisk group as a supplementary group, as compose's
 * group_add gives it. Needs root (chown, setpriv), as the whole suite does.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const ENTRYPOINT = path.join(ROOT, 'examples', 'compose', 'asterisk', 'entrypoint.sh');
const SNIPPETS = path.join(ROOT, 'asterisk-conf');
const STOCK = path.join(defaultChrootDir(), 'etc', 'asterisk');
const PLACEHOLDER = 'CHANGE-ME-long-random-password';
/** A gid no user or group of this machine has: the group is what grants access, nothing else. */
const GID = 47000 + crypto.randomInt(1000);
/** The image's user "node". */
const SIDECAR_UID = 1000;

let tmp: string;
let conf: string;

function entrypoint(env: Record<string, string>) {
  const r = spawnSync('sh', [ENTRYPOINT, 'true'], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      ASTERISK_CONFIG_DIR: conf,
      UURU_SNIPPETS_DIR: SNIPPETS,
      ASTERISK_GROUP: String(GID),
      ...env,
    },
    encoding: 'utf8',
  });
  return { code: r.status, stderr: r.stderr };
}

/** Runs a command as another user (setpriv, util-linux) with exactly the groups given. */
function runAs(uid: number, gid: number, groups: number[], argv: string[]) {
  const r = spawnSync(
    'setpriv',
    [
      `--reuid=${uid}`,
      `--regid=${gid}`,
      groups.length ? `--groups=${groups.join(',')}` : '--clear-groups',
      ...argv,
    ],
    { cwd: tmp, encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmp } },
  );
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/**
 * The sidecar's writer, src/asterisk/atomic-file.ts (it imports only Node's own
 * modules), transpiled into the test's folder: the unprivileged user may not be
 * able to read the checkout (a clone under /root), and must not need to.
 */
function writerModule(): string {
  const source = fs.readFileSync(path.join(ROOT, 'src', 'asterisk', 'atomic-file.ts'), 'utf8');
  const js = ts.transpileModule(source, {
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2022,
      esModuleInterop: true,
    },
  }).outputText;
  const file = path.join(tmp, 'atomic-file.js');
  fs.writeFileSync(file, js, { mode: 0o644 });
  return file;
}

const writeAsSidecar = (groups: number[], file: string) =>
  runAs(SIDECAR_UID, SIDECAR_UID, groups, [
    process.execPath,
    '-e',
    `require(${JSON.stringify(writerModule())}).writeFileAtomic(${JSON.stringify(file)}, '[peer]\\n').catch((e) => { console.error(e.code); process.exit(1); })`,
  ]);

const passwords = {
  AMI_PASSWORD: crypto.randomBytes(12).toString('hex'),
  ARI_PASSWORD: crypto.randomBytes(12).toString('hex'),
};

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-compose-ast-'));
  fs.chmodSync(tmp, 0o755);
  conf = path.join(tmp, 'asterisk');
  fs.cpSync(STOCK, conf, { recursive: true });
});

afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('compose example: Asterisk entry point', () => {
  it('installs the AMI, ARI and HTTP snippets with the passwords from .env, readable by the asterisk group only', () => {
    expect(entrypoint(passwords)).toEqual({ code: 0, stderr: '' });
    for (const [file, password] of [
      ['manager.conf', passwords.AMI_PASSWORD],
      ['ari.conf', passwords.ARI_PASSWORD],
      ['http.conf', null],
    ] as const) {
      const snippet = fs.readFileSync(path.join(SNIPPETS, file), 'utf8');
      const expected = password === null ? snippet : snippet.split(PLACEHOLDER).join(password);
      expect(fs.readFileSync(path.join(conf, file), 'utf8')).toBe(expected);
      const st = fs.statSync(path.join(conf, file));
      expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([0, GID, 0o640]);
    }
    expect(fs.readFileSync(path.join(SNIPPETS, 'manager.conf'), 'utf8')).toContain(PLACEHOLDER);
  });

  it("appends the #tryinclude snippets to the package's iax.conf and extensions.conf once, across restarts", () => {
    const stock = {
      iax: fs.readFileSync(path.join(conf, 'iax.conf'), 'utf8'),
      ext: fs.readFileSync(path.join(conf, 'extensions.conf'), 'utf8'),
    };
    expect(stock.iax).toContain('[general]');
    expect(entrypoint(passwords).code).toBe(0);
    expect(entrypoint(passwords).code).toBe(0);
    const iax = fs.readFileSync(path.join(conf, 'iax.conf'), 'utf8');
    const ext = fs.readFileSync(path.join(conf, 'extensions.conf'), 'utf8');
    expect(iax).toBe(`${stock.iax}\n${fs.readFileSync(path.join(SNIPPETS, 'iax.conf'), 'utf8')}`);
    expect(ext).toBe(`${stock.ext}\n${fs.readFileSync(path.join(SNIPPETS, 'extensions.conf'), 'utf8')}`);
    expect(iax.split('\n').filter((l) => l === '#tryinclude iax-uuru-federation.conf')).toHaveLength(1);
  });

  it.each([
    ['the placeholder', PLACEHOLDER, /AMI_PASSWORD is still the example's placeholder/],
    ['a semicolon', 'abc;def', /AMI_PASSWORD holds a ';' or white space/],
    ['a space', 'abc def', /AMI_PASSWORD holds a ';' or white space/],
    ['nothing', '', /AMI_PASSWORD is empty/],
  ])('refuses an AMI password of %s and writes nothing', (_what, password, message) => {
    const before = fs.readFileSync(path.join(conf, 'manager.conf'), 'utf8');
    const mode = fs.statSync(conf).mode;
    const r = entrypoint({ ...passwords, AMI_PASSWORD: password });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(fs.readFileSync(path.join(conf, 'manager.conf'), 'utf8')).toBe(before);
    expect(fs.statSync(conf).mode).toBe(mode);
  });
});

describe('compose example: the shared config folder through the asterisk group', () => {
  beforeEach(() => {
    expect(entrypoint(passwords).code).toBe(0);
  });

  it('is group asterisk, group-writable and setgid, closed to others', () => {
    const st = fs.statSync(conf);
    expect([st.gid, st.mode & 0o7777]).toEqual([GID, 0o2770]);
  });

  it('lets the unprivileged sidecar write its generated file only while it holds the group', () => {
    const file = path.join(conf, 'iax-uuru-federation.conf');
    const without = writeAsSidecar([], file);
    expect(without).toEqual({ code: 1, out: 'EACCES\n' });
    expect(fs.existsSync(file)).toBe(false);

    expect(writeAsSidecar([GID], file)).toEqual({ code: 0, out: '' });
    const st = fs.statSync(file);
    // the setgid folder hands its group to the new file: Asterisk reads it through the group
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([SIDECAR_UID, GID, 0o640]);
    // Asterisk's own user (another uid, primary group asterisk) reads it
    expect(runAs(SIDECAR_UID + 1, GID, [], ['cat', file])).toEqual({ code: 0, out: '[peer]\n' });
    // and a user outside the group does not
    expect(runAs(SIDECAR_UID + 1, SIDECAR_UID + 1, [], ['cat', file]).code).not.toBe(0);
  });
});
