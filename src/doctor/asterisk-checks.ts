import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema';
import { checkOf, type CheckResult, type CheckResults } from '../core/diagnostics';
import { outboundContextName, SHARED_INBOUND_CONTEXT } from '../asterisk/desired-state';
import { EXTENSIONS_FILE, FRIEND_TEMPLATE, IAX_FILE } from '../asterisk/files-renderer';
import { type AmiSession, openAmi } from './ami-session';
import { probeAri } from './ari-probe';
import { check, type LoginFailure, skipped } from './check';

/**
 * Checks of the Asterisk side, all read from the running Asterisk over a
 * fresh AMI session (and one ARI request): the links, the modules, the lines
 * the admin adds once (asterisk-conf/), the phones' context, and whether the
 * sidecar can write its generated files.
 */

const TIMEOUT_MS = 4000;

const T = {
  ami: 'AMI (Asterisk Manager Interface)',
  ari: 'ARI (Asterisk REST Interface)',
  modules: 'Asterisk modules loaded',
  includeIax: 'iax.conf includes the generated trunks',
  includeExt: 'extensions.conf includes the generated dial plan',
  extconfig: 'extconfig.conf maps the realtime tables',
  switches: 'extensions.conf has the realtime switch contexts',
  phones: "The phones' context reaches the federation",
  writable: 'Generated files writable',
};

const ariBase = (url: string): string => {
  const u = url.replace(/\/+$/, '');
  return u.endsWith('/ari') ? u : `${u}/ari`;
};

export async function asteriskChecks(config: Config): Promise<CheckResult[]> {
  const a = config.asterisk;
  const files = a.stateBackend === 'files';
  const amiChecks = files
    ? ([
        'asterisk.modules',
        'asterisk.include.iax',
        'asterisk.include.extensions',
        'asterisk.phones-context',
      ] as const)
    : ([
        'asterisk.modules',
        'asterisk.realtime.extconfig',
        'asterisk.realtime.switches',
        'asterisk.phones-context',
      ] as const);
  const titles: Record<string, string> = {
    'asterisk.modules': T.modules,
    'asterisk.include.iax': T.includeIax,
    'asterisk.include.extensions': T.includeExt,
    'asterisk.realtime.extconfig': T.extconfig,
    'asterisk.realtime.switches': T.switches,
    'asterisk.phones-context': T.phones,
  };
  if (!a.enabled) {
    const why = 'Asterisk integration is switched off in this instance (asterisk.enabled = false)';
    return [
      skipped('ami', T.ami, why),
      skipped('ari', T.ari, why),
      ...amiChecks.map((id) => skipped(id, titles[id], why)),
      ...(files ? [skipped('asterisk.generated-files', T.writable, why)] : []),
    ];
  }
  const amiWhere = `${a.ami.host}:${a.ami.port}`;
  const [ami, ari] = await Promise.all([
    openAmi({
      host: a.ami.host,
      port: a.ami.port,
      username: a.ami.user,
      secret: a.ami.password,
      timeoutMs: TIMEOUT_MS,
    }),
    probeAri({
      baseUrl: ariBase(a.ari.url),
      username: a.ari.user,
      password: a.ari.password,
      timeoutMs: TIMEOUT_MS,
    }),
  ]);
  const out: CheckResult[] = [];
  const amiCheck = checkOf('ami', T.ami);
  out.push(
    ami.kind === 'ok'
      ? amiCheck.ok(`logged in at ${amiWhere} as "${a.ami.user}" (${ami.greeting})`)
      : failedLogin(amiCheck, ami, {
          unreachable: [
            'unreachable',
            `Start Asterisk, or set UURU_ASTERISK_AMI_ADDR and UURU_ASTERISK_AMI_PORT to where manager.conf's [general] binds (enabled = yes, bindaddr, port; see asterisk-conf/manager.conf).`,
          ],
          wrong_port: [
            'wrong port',
            `Set UURU_ASTERISK_AMI_PORT to the port in manager.conf's [general] section (5038 by default), not the HTTP/ARI or IAX2 port.`,
          ],
          login_refused: [
            'login refused',
            `Make UURU_ASTERISK_AMI_USER and UURU_ASTERISK_AMI_PASS match a [user] section of manager.conf (its secret), check that its permit line admits this host, then run "manager reload" on the Asterisk CLI.`,
          ],
        }),
  );
  const ariCheck = checkOf('ari', T.ari);
  out.push(
    ari.kind === 'ok'
      ? ariCheck.ok(`logged in as "${a.ari.user}"; Asterisk ${ari.version}`)
      : failedLogin(ariCheck, ari, {
          unreachable: [
            'unreachable',
            `Enable Asterisk's HTTP server (http.conf: enabled = yes, bindaddr, bindport) and set UURU_ASTERISK_ARI_URL to it (e.g. http://127.0.0.1:8088).`,
          ],
          wrong_port: [
            'wrong port or ARI off',
            `Point UURU_ASTERISK_ARI_URL at Asterisk's HTTP server (http.conf bindport, 8088 by default) and enable ARI (ari.conf [general] enabled = yes); see asterisk-conf/ari.conf.`,
          ],
          login_refused: [
            'login refused',
            `Make UURU_ASTERISK_ARI_USER and UURU_ASTERISK_ARI_PASS match a "type = user" section of ari.conf, then run "module reload res_ari.so".`,
          ],
        }),
  );
  if (ami.kind !== 'ok') {
    const why = 'needs an AMI login (see the AMI check)';
    out.push(...amiChecks.map((id) => skipped(id, titles[id], why)));
  } else {
    const s = ami.session;
    try {
      out.push(await moduleCheck(s, config));
      if (files) out.push(...(await includeChecks(s, config)));
      else out.push(...(await realtimeChecks(s, config)));
      out.push(await phonesContextCheck(s, config));
    } catch (e) {
      out.push(check('asterisk.ami-read', 'Reading Asterisk over AMI', 'fail', (e as Error).message, null));
    } finally {
      s.close();
    }
  }
  if (files) out.push(writableCheck(a.configDir));
  return out;
}

/** Modules the backend needs, each as "module show like" reports it. */
async function moduleCheck(s: AmiSession, config: Config): Promise<CheckResult> {
  const realtime = config.asterisk.stateBackend === 'realtime';
  const needed = realtime ? ['chan_iax2.so'] : ['chan_iax2.so', 'pbx_config.so'];
  const states = new Map<string, 'running' | 'not running' | 'absent'>();
  for (const m of [...needed, ...(realtime ? ['res_config_mysql.so', 'res_config_odbc.so'] : [])]) {
    const r = await s.command(`module show like ${m}`);
    const line = r.output.split('\n').find((l) => l.trim().startsWith(m));
    states.set(
      m,
      !line
        ? 'absent'
        : /\bNot Running\b/i.test(line) || !/\bRunning\b/.test(line)
          ? 'not running'
          : 'running',
    );
  }
  const missing = needed.filter((m) => states.get(m) !== 'running');
  if (
    realtime &&
    states.get('res_config_mysql.so') !== 'running' &&
    states.get('res_config_odbc.so') !== 'running'
  )
    missing.push('res_config_mysql.so or res_config_odbc.so');
  const seen = [...states].map(([m, st]) => `${m} ${st}`).join(', ');
  if (missing.length === 0) return check('asterisk.modules', T.modules, 'ok', seen);
  return check(
    'asterisk.modules',
    T.modules,
    'fail',
    `not loaded: ${missing.join(', ')} (${seen})`,
    `Load them on the Asterisk CLI ("module load <name>") and make sure modules.conf does not say noload for them${realtime ? '; the realtime backend needs the driver named in extconfig.conf' : ''}.`,
  );
}

/** Asterisk's config folder, from the path of a file it loaded ("config list"); null when it does not say. */
async function asteriskConfigDir(s: AmiSession, file: string): Promise<string | null> {
  const r = await s.command('config list');
  for (const line of r.output.split('\n')) {
    const p = line.trim().split(/\s+/).pop() ?? '';
    if (path.posix.basename(p) === file) return path.posix.dirname(p);
  }
  return null;
}

/** A link that could not log in, said as what went wrong and what to do about it. */
function failedLogin(
  result: CheckResults,
  outcome: LoginFailure,
  says: Record<LoginFailure['kind'], [what: string, fix: string]>,
): CheckResult {
  const [what, fix] = says[outcome.kind];
  return result.fail(`${what}: ${outcome.detail}`, fix);
}

/** A config file as Asterisk reads it (AMI GetConfig): its categories with their lines. */
type AsteriskConfig = Exclude<Awaited<ReturnType<AmiSession['getConfig']>>, { error: string }>;

async function includeChecks(s: AmiSession, config: Config): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const dir = (await asteriskConfigDir(s, 'iax.conf')) ?? '/etc/asterisk';
  const notFound = (file: string) =>
    `Asterisk finds no ${file} in its config folder ${dir}: the sidecar writes it into ${config.asterisk.configDir} (UURU_ASTERISK_CONFIG_DIR) on its first reconcile`;
  const sameDirFix = `Set UURU_ASTERISK_CONFIG_DIR to the folder Asterisk reads (${dir}), or mount that folder there, and give the sidecar write access to it; then run "uuru-fed reconcile".`;
  /** A config file and the generated one it should include, as Asterisk reads them; the failed check when either is unreadable. */
  const readIncluding = async (
    file: string,
    generatedFile: string,
    result: CheckResults,
    fix: string,
  ): Promise<{ failed: CheckResult } | { main: AsteriskConfig; generated: AsteriskConfig }> => {
    const main = await s.getConfig(file);
    const generated = await s.getConfig(generatedFile);
    if ('error' in main) return { failed: result.fail(`Asterisk cannot read ${file}: ${main.error}`, fix) };
    if ('error' in generated) return { failed: result.fail(notFound(generatedFile), sameDirFix) };
    return { main, generated };
  };

  // iax.conf: GetConfig reads the file afresh with its includes resolved, so the generated peers show up in it
  // exactly when the #tryinclude line is there. With no peers yet, the files Asterisk loaded tell it.
  const iaxCheck = checkOf('asterisk.include.iax', T.includeIax);
  const iaxLine = `#tryinclude ${IAX_FILE}`;
  const iaxFix = `Add this line at the end of ${dir}/iax.conf, then run "module reload chan_iax2.so" on the Asterisk CLI:\n${iaxLine}`;
  const iax = await readIncluding('iax.conf', IAX_FILE, iaxCheck, iaxFix);
  if ('failed' in iax) {
    out.push(iax.failed);
  } else {
    const { main, generated } = iax;
    // The friends' template is a section too, not a peer.
    const peers = [...generated.categories.keys()].filter((c) => c !== FRIEND_TEMPLATE);
    if (peers.length > 0) {
      const missing = peers.filter((p) => !main.categories.has(p));
      out.push(
        missing.length === 0
          ? iaxCheck.ok(`iax.conf includes ${IAX_FILE} (${peers.length} peer(s))`)
          : iaxCheck.fail(
              `iax.conf does not include ${IAX_FILE}: its peers (${missing.slice(0, 5).join(', ')}) are not part of iax.conf as Asterisk reads it`,
              iaxFix,
            ),
      );
    } else {
      const list = await s.command('config list');
      const loaded = list.output
        .split('\n')
        .some((l) => /^\s*chan_iax2\s/.test(l) && l.trim().endsWith(`/${IAX_FILE}`));
      out.push(
        loaded
          ? iaxCheck.ok(
              `chan_iax2 loaded ${IAX_FILE} (no peers yet, so this is judged from the files Asterisk loaded at its last reload)`,
            )
          : iaxCheck.fail(
              `chan_iax2 did not load ${IAX_FILE}: iax.conf has no #tryinclude line for it`,
              iaxFix,
            ),
      );
    }
  }

  // extensions.conf: the generated file always holds the outbound context, so GetConfig shows whether it is included.
  const context = outboundContextName(config.asterisk.localContext);
  const extCheck = checkOf('asterisk.include.extensions', T.includeExt);
  const extLine = `#tryinclude ${EXTENSIONS_FILE}`;
  const extFix = `Add this line to ${dir}/extensions.conf (see asterisk-conf/extensions.conf), then run "dialplan reload" on the Asterisk CLI:\n${extLine}`;
  const ext = await readIncluding('extensions.conf', EXTENSIONS_FILE, extCheck, extFix);
  if ('failed' in ext) {
    out.push(ext.failed);
  } else if (ext.main.categories.has(context)) {
    out.push(extCheck.ok(`extensions.conf includes ${EXTENSIONS_FILE} (context ${context})`));
  } else {
    out.push(
      extCheck.fail(
        `extensions.conf does not include ${EXTENSIONS_FILE}: the context ${context} is not part of it as Asterisk reads it`,
        extFix,
      ),
    );
  }
  return out;
}

async function realtimeChecks(s: AmiSession, config: Config): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const ext = await s.getConfig('extconfig.conf');
  const wanted = ['iaxusers', 'iaxpeers', 'extensions'];
  const mapped = new Set(
    'error' in ext
      ? []
      : (ext.categories.get('settings') ?? []).map((l) => l.slice(0, l.indexOf('=')).trim().toLowerCase()),
  );
  const missing = wanted.filter((w) => !mapped.has(w));
  out.push(
    missing.length === 0
      ? check('asterisk.realtime.extconfig', T.extconfig, 'ok', `extconfig.conf maps ${wanted.join(', ')}`)
      : check(
          'asterisk.realtime.extconfig',
          T.extconfig,
          'fail',
          'error' in ext
            ? `Asterisk cannot read extconfig.conf: ${ext.error}`
            : `extconfig.conf [settings] does not map ${missing.join(', ')}`,
          `Add to extconfig.conf's [settings] (see asterisk-conf/extconfig.conf), then restart Asterisk:\n${missing.map((m) => `${m} => mysql,general,${m === 'extensions' ? 'extensions' : 'iaxfriends'}`).join('\n')}`,
        ),
  );
  const dial = await s.getConfig('extensions.conf');
  const contexts = [outboundContextName(config.asterisk.localContext), SHARED_INBOUND_CONTEXT];
  const lacking = contexts.filter((c) => {
    if ('error' in dial) return true;
    return !(dial.categories.get(c) ?? []).some((l) =>
      /^switch\s*=\s*>?\s*realtime\//i.test(l.replace(/\s+/g, ' ')),
    );
  });
  out.push(
    lacking.length === 0
      ? check(
          'asterisk.realtime.switches',
          T.switches,
          'ok',
          `${contexts.join(' and ')} hold switch => Realtime/`,
        )
      : check(
          'asterisk.realtime.switches',
          T.switches,
          'fail',
          `extensions.conf lacks the realtime switch in ${lacking.join(', ')}`,
          `Add to extensions.conf (see asterisk-conf/extensions-realtime.conf), then run "dialplan reload":\n${lacking.map((c) => `[${c}]\nswitch => Realtime/`).join('\n')}`,
        ),
  );
  return out;
}

/** The phones' context is asterisk.localContext: it must exist in the running dial plan and include the federation context. */
async function phonesContextCheck(s: AmiSession, config: Config): Promise<CheckResult> {
  const local = config.asterisk.localContext;
  const fed = outboundContextName(local);
  const r = await s.command(`dialplan show ${local}`);
  if (!r.ok || /There is no existence of/i.test(r.output)) {
    return check(
      'asterisk.phones-context',
      T.phones,
      'warn',
      `the running dial plan has no context "${local}" (UURU_ASTERISK_LOCAL_CONTEXT), so no phone can dial a federation prefix yet`,
      `Set UURU_ASTERISK_LOCAL_CONTEXT to the context your phones dial from (their context= in pjsip.conf/sip.conf), and add "include => <that context>-federation" to it in extensions.conf; then "dialplan reload".`,
    );
  }
  const includes = new RegExp(`Include =>\\s+'${fed.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')}'`);
  if (includes.test(r.output)) {
    return check(
      'asterisk.phones-context',
      T.phones,
      'ok',
      `context "${local}" includes "${fed}" in the running dial plan`,
    );
  }
  return check(
    'asterisk.phones-context',
    T.phones,
    'fail',
    `context "${local}" exists but does not include "${fed}", so phones there cannot dial partners`,
    `Add this line under [${local}] in extensions.conf, then run "dialplan reload" on the Asterisk CLI:\ninclude => ${fed}`,
  );
}

/** The files backend writes two files in the config folder atomically (a temp file there, then a rename). */
function writableCheck(dir: string): CheckResult {
  const problems: string[] = [];
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (e) {
    problems.push(`the folder ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  for (const f of [IAX_FILE, EXTENSIONS_FILE]) {
    const file = path.join(dir, f);
    if (!fs.existsSync(file)) continue;
    try {
      fs.accessSync(file, fs.constants.W_OK);
    } catch (e) {
      problems.push(`${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  if (problems.length === 0)
    return check(
      'asterisk.generated-files',
      T.writable,
      'ok',
      `the sidecar can write ${IAX_FILE} and ${EXTENSIONS_FILE} in ${dir}`,
    );
  return check(
    'asterisk.generated-files',
    T.writable,
    'fail',
    `the sidecar cannot write: ${problems.join('; ')}`,
    `Give the sidecar's user write access to ${dir} through a group (e.g. chgrp asterisk ${dir} && chmod g+rwx ${dir}, and add the sidecar's user to that group), or set UURU_ASTERISK_CONFIG_DIR.`,
  );
}
