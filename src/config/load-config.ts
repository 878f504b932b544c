import fs from 'node:fs';
import path from 'node:path';
import { configSchema, type Config } from './schema';
import { closest } from 'fastest-levenshtein';
import type { z } from 'zod';
import { deepMerge } from './deep-merge';
import { normalizeLogLevel } from './log-levels';

type Kind =
  'string' | 'int' | 'bool' | 'list' | 'listen' | 'admin-listen' | 'trust-proxy' | 'numbers' | 'loglevel';

/** Environment variables and where they land. µURU's own names are kept where the concept is shared. */
export const ENV_MAP: ReadonlyArray<[string, string, Kind]> = [
  ['UURU_DATA_DIR', 'dataDir', 'string'],
  ['UURU_FEDERATION_UURU_HOST', 'instance.publicUrl', 'string'],
  ['UURU_FEDERATION_IAX2_HOST', 'instance.iax2Host', 'string'],
  ['UURU_FEDERATION_IAX2_PORT', 'instance.iax2Port', 'int'],
  ['UURU_EXTENSION_DIGITS', 'instance.extensionDigits', 'int'],
  ['UURU_RESERVED_EXTENSIONS', 'instance.reservedExtensions', 'numbers'],
  ['UURU_EMERGENCY_NUMBERS', 'instance.emergencyNumbers', 'numbers'],
  ['UURU_FEDERATION_CODECS', 'instance.codecs', 'list'],
  ['UURU_HTTP_LISTEN', 'http.federation', 'listen'],
  ['UURU_ADMIN_LISTEN', 'http.admin', 'admin-listen'],
  ['UURU_HTTP_TRUST_PROXY', 'http.trustProxy', 'trust-proxy'],
  ['UURU_DATABASE_TYPE', 'database.type', 'string'],
  ['UURU_DATABASE_SQLITE_PATH', 'database.sqlitePath', 'string'],
  ['UURU_DATABASE_SERVER', 'database.host', 'string'],
  ['UURU_DATABASE_PORT', 'database.port', 'int'],
  ['UURU_DATABASE_USER', 'database.user', 'string'],
  ['UURU_DATABASE_PASSWORD', 'database.password', 'string'],
  ['UURU_DATABASE_DB', 'database.database', 'string'],
  ['UURU_DATABASE_SOCKET', 'database.socketPath', 'string'],
  ['UURU_ASTERISK_ENABLED', 'asterisk.enabled', 'bool'],
  ['UURU_ASTERISK_AMI_ADDR', 'asterisk.ami.host', 'string'],
  ['UURU_ASTERISK_AMI_PORT', 'asterisk.ami.port', 'int'],
  ['UURU_ASTERISK_AMI_USER', 'asterisk.ami.user', 'string'],
  ['UURU_ASTERISK_AMI_PASS', 'asterisk.ami.password', 'string'],
  ['UURU_ASTERISK_ARI_URL', 'asterisk.ari.url', 'string'],
  ['UURU_ASTERISK_ARI_USER', 'asterisk.ari.user', 'string'],
  ['UURU_ASTERISK_ARI_PASS', 'asterisk.ari.password', 'string'],
  ['UURU_ASTERISK_STATE_BACKEND', 'asterisk.stateBackend', 'string'],
  ['UURU_ASTERISK_CONFIG_DIR', 'asterisk.configDir', 'string'],
  ['UURU_ASTERISK_LOCAL_CONTEXT', 'asterisk.localContext', 'string'],
  ['UURU_ASTERISK_INBOUND_CONTEXT', 'asterisk.inboundTargetContext', 'string'],
  ['UURU_ASTERISK_TEST_EXTENSION', 'asterisk.testExtension', 'string'],
  ['UURU_ASTERISK_QUALIFY_FREQ_OK_MS', 'asterisk.qualifyFreqOkMs', 'int'],
  ['UURU_ASTERISK_QUALIFY_FREQ_NOTOK_MS', 'asterisk.qualifyFreqNotOkMs', 'int'],
  ['UURU_ASTERISK_QUALITY_PROBE_ENABLED', 'asterisk.qualityProbe.enabled', 'bool'],
  ['UURU_ASTERISK_QUALITY_PROBE_INTERVAL_MS', 'asterisk.qualityProbe.intervalMs', 'int'],
  ['UURU_ASTERISK_QUALITY_PROBE_DURATION_MS', 'asterisk.qualityProbe.durationMs', 'int'],
  ['UURU_ASTERISK_DATABASE_SERVER', 'asterisk.realtimeDb.host', 'string'],
  ['UURU_ASTERISK_DATABASE_PORT', 'asterisk.realtimeDb.port', 'int'],
  ['UURU_ASTERISK_DATABASE_USER', 'asterisk.realtimeDb.user', 'string'],
  ['UURU_ASTERISK_DATABASE_PASSWORD', 'asterisk.realtimeDb.password', 'string'],
  ['UURU_ASTERISK_DATABASE_DB', 'asterisk.realtimeDb.database', 'string'],
  ['UURU_ASTERISK_DATABASE_SOCKET', 'asterisk.realtimeDb.socketPath', 'string'],
  ['UURU_FEDERATION_POLICY_MODE', 'federation.policyMode', 'string'],
  ['UURU_FEDERATION_ALLOW_LEGACY', 'federation.allowLegacy', 'bool'],
  ['UURU_FEDERATION_V2', 'federation.v2Enabled', 'bool'],
  ['UURU_KEY_ENCRYPTION_SECRET', 'federation.keyEncryptionSecret', 'string'],
  ['UURU_ADMIN_BOOTSTRAP_TOKEN', 'admin.bootstrapToken', 'string'],
  ['UURU_ADMIN_AUDIT_RETENTION_DAYS', 'admin.auditRetentionDays', 'int'],
  ['UURU_ADMIN_URL', 'cli.adminUrl', 'string'],
  ['UURU_ADMIN_TOKEN', 'cli.adminToken', 'string'],
  ['UURU_PHONEBOOK_FILE', 'phonebook.file', 'string'],
  ['UURU_PHONEBOOK_DATABASE_TYPE', 'phonebook.uuruDatabase.type', 'string'],
  ['UURU_PHONEBOOK_DATABASE_SERVER', 'phonebook.uuruDatabase.host', 'string'],
  ['UURU_PHONEBOOK_DATABASE_PORT', 'phonebook.uuruDatabase.port', 'int'],
  ['UURU_PHONEBOOK_DATABASE_USER', 'phonebook.uuruDatabase.user', 'string'],
  ['UURU_PHONEBOOK_DATABASE_PASSWORD', 'phonebook.uuruDatabase.password', 'string'],
  ['UURU_PHONEBOOK_DATABASE_DB', 'phonebook.uuruDatabase.database', 'string'],
  ['UURU_PHONEBOOK_DATABASE_SOCKET', 'phonebook.uuruDatabase.socketPath', 'string'],
  ['UURU_NOTIFY_WEBHOOK_URL', 'notify.webhookUrl', 'string'],
  ['UURU_NOTIFY_WEBHOOK_SECRET', 'notify.webhookSecret', 'string'],
  ['UURU_LOGLEVEL', 'log.level', 'loglevel'],
  ['UURU_LOG_FORMAT', 'log.format', 'string'],
  ['UURU_HA_ENABLED', 'ha.enabled', 'bool'],
  ['UURU_HA_REPLICA_ID', 'ha.replicaId', 'string'],
  ['UURU_HA_ASTERISK_NODE', 'ha.asteriskNode', 'string'],
  ['UURU_HA_VALKEY_URL', 'ha.valkeyUrl', 'string'],
];

/**
 * Other names a variable of ENV_MAP is read from, used only when that variable is unset.
 * - UURU_ASTERSIK_AMI_PORT: µURU's application reads its AMI port under this spelling
 *   (app/core/config.py), while µURU's Asterisk container binds manager.conf to
 *   UURU_ASTERISK_AMI_PORT; a µURU .env may hold either.
 * - UURU_ASTERISK_HOST: our AMI host's name before this release. In µURU it is the
 *   phones' SIP address, so it is read only when UURU_ASTERISK_AMI_ADDR is unset, with a
 *   warning, and will be dropped in the next release.
 */
export const ENV_ALIASES: ReadonlyArray<{
  name: string;
  of: string;
  /** Warning when the alias is used. */
  whenUsed?: string;
  /** Warning when both are set and differ (the variable of ENV_MAP wins). */
  whenBothDiffer?: string;
}> = [
  {
    name: 'UURU_ASTERSIK_AMI_PORT',
    of: 'UURU_ASTERISK_AMI_PORT',
    whenBothDiffer:
      "UURU_ASTERISK_AMI_PORT and µURU's UURU_ASTERSIK_AMI_PORT differ: using UURU_ASTERISK_AMI_PORT, the port µURU's Asterisk binds its AMI to",
  },
  {
    name: 'UURU_ASTERISK_HOST',
    of: 'UURU_ASTERISK_AMI_ADDR',
    whenUsed:
      "UURU_ASTERISK_HOST is read as the AMI host for this release only (in µURU it is the phones' SIP address): set UURU_ASTERISK_AMI_ADDR instead",
  },
];

/**
 * Settings of stock µURU (app/core/config.py) this sidecar does not read: a µURU .env
 * holds them, so they draw no "unknown variable" warning. Names µURU shares with us
 * are in ENV_MAP.
 */
const UURU_ONLY_VARIABLES: readonly string[] = [
  'DEFAULT_ROOT_USER',
  'DEFAULT_ROOT_PASSWORD',
  'SECRET_KEY',
  'ACCESS_TOKEN_EXPIRE_MINUTES',
  'LIMIT_REGISTRATION',
  'ALLOWED_USERNAME_CHARS',
  'WEB_PREFIX',
  'API_V1_STR',
  'TELEPHONING_PREFIX',
  'WEB_HOST',
  'BACKEND_CORS_ORIGINS',
  'DATABASE_DB_TEST',
  'LDAP_SERVER',
  'LDAP_BASE_DN',
  'LDAP_USER',
  'LDAP_PASSWORD',
  'LDAP_PUBLIC_HOST',
  'LDAP_PUBLIC_BIND_USER',
  'LDAP_PUBLIC_BIND_PASSWORD',
  'ENVIRONMENT',
  'LIFESPAN_DROP_DB',
  'MEDIA_PATH',
  'MEDIA_MAX_SIZE_USER',
  'MEDIA_LIMIT_SIZE_ADMIN',
  'MEDIA_ALLOW_RAW',
  'MEDIA_IMAGE_STORAGE_FORMAT',
  'MEDIA_AUDIO_STORAGE_FORMAT',
  'EXTENSION_PASSWORD_LENGTH',
  'EXTENSION_PASSWORD_CHARS',
  'EXTENSION_TOKEN_PREFIX',
  'EXTENSION_TOKEN_LENGTH',
  'ALL_EXTENSION_TYPES_PUBLIC',
  'RESERVED_NAME_PREFIXES',
  'ENABLED_PHONE_FLAVORS',
  'ENABLE_WEBSIP',
  'WEBSIP_PUBLIC',
  'WEBSIP_WS_HOST',
  'WEBSIP_EXTENSION_RANGE',
  'SITE_NAME',
  'SITE_SLOGAN',
  'SHOW_SITE_SLOGAN',
  'SITE_LAT',
  'SITE_LON',
  'ENABLE_PAGES',
  'PAGES_TITLE',
  'OMM_HOST',
  'OMM_PORT',
  'OMM_USER',
  'OMM_PASSWORD',
  'OMM_VERIFY_CERT',
  'GRANDSTREAM_WIFI_SSID',
  'GRANDSTREAM_WIFI_PASSWD',
].map((n) => `UURU_${n}`);

/** Every UURU_* name this sidecar reads, besides ENV_MAP's. */
const OTHER_READ_VARIABLES: readonly string[] = ['UURU_CONFIG_FILE', ...ENV_ALIASES.map((a) => a.name)];

/**
 * Every variable the sidecar and the CLI read: ENV_MAP's, UURU_CONFIG_FILE and the
 * aliases of ENV_ALIASES. What a deployment file (the Dockerfile, examples/compose)
 * may set for the sidecar; their tests check it against this list.
 */
export const READ_VARIABLES: readonly string[] = [...ENV_MAP.map(([name]) => name), ...OTHER_READ_VARIABLES];

/** A problem with the settings that does not stop the start; logged once at start. */
export interface ConfigWarning {
  /** The variable (or file key) it is about. */
  setting: string;
  message: string;
}

/** Variables set but empty count as unset, as in µURU (env_ignore_empty). */
function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** The variable a setting is read from: its own, else its alias; warns as ENV_ALIASES says. */
function chooseVariable(
  env: NodeJS.ProcessEnv,
  name: string,
  warnings: ConfigWarning[],
): { name: string; raw: string } | null {
  const raw = envValue(env, name);
  const alias = ENV_ALIASES.find((a) => a.of === name);
  const aliasRaw = alias ? envValue(env, alias.name) : undefined;
  if (!alias || aliasRaw === undefined) return raw === undefined ? null : { name, raw };
  if (raw !== undefined) {
    if (alias.whenBothDiffer && raw.trim() !== aliasRaw.trim())
      warnings.push({ setting: alias.name, message: alias.whenBothDiffer });
    return { name, raw };
  }
  if (alias.whenUsed) warnings.push({ setting: alias.name, message: alias.whenUsed });
  return { name: alias.name, raw: aliasRaw };
}

/**
 * UURU_* variables nobody reads, each with the closest known name by edit distance
 * (a misspelt variable otherwise falls silently back to its default). UURU_TEST_* is
 * the test harness's and scripts/setup-system.sh's.
 */
export function unknownVariableWarnings(env: NodeJS.ProcessEnv): ConfigWarning[] {
  const known = [...ENV_MAP.map(([name]) => name), ...OTHER_READ_VARIABLES, ...UURU_ONLY_VARIABLES];
  const knownSet = new Set(known);
  return Object.keys(env)
    .filter((name) => name.startsWith('UURU_') && !name.startsWith('UURU_TEST_') && !knownSet.has(name))
    .sort()
    .map((name) => ({
      setting: name,
      message: `${name} is not a setting of uuru-federation (nor of µURU) and is ignored; the closest known one is ${closest(name, known)}`,
    }));
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

type Json = Record<string, unknown>;

function setPath(target: Json, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let node = target;
  for (const p of parts.slice(0, -1)) {
    if (typeof node[p] !== 'object' || node[p] === null) node[p] = {};
    node = node[p] as Json;
  }
  node[parts[parts.length - 1]] = value;
}

function parseEnvValue(name: string, raw: string, kind: Kind, problems: string[]): unknown {
  switch (kind) {
    case 'string':
      return raw;
    case 'int': {
      if (!/^-?[0-9]+$/.test(raw.trim())) {
        problems.push(`${name}: expected a whole number`);
        return undefined;
      }
      return Number(raw.trim());
    }
    case 'bool': {
      const v = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off'].includes(v)) return false;
      problems.push(`${name}: expected true or false`);
      return undefined;
    }
    case 'trust-proxy': {
      // A hop count ("2"; "1" too, as Express reads it), true/false as before, or proxy
      // addresses/CIDRs ("loopback,10.0.0.0/8"); the schema checks the addresses.
      const v = raw.trim();
      if (/^[0-9]+$/.test(v)) return Number(v);
      if (['true', 'yes', 'on', 'false', 'no', 'off'].includes(v.toLowerCase()))
        return parseEnvValue(name, v, 'bool', problems);
      return v;
    }
    case 'numbers': {
      // µURU's JSON form ([110, [200, 299]]) or our comma form (110,2*); the schema checks the entries.
      const v = raw.trim();
      if (!v.startsWith('[')) return parseEnvValue(name, v, 'list', problems);
      try {
        const parsed: unknown = JSON.parse(v);
        if (Array.isArray(parsed)) return parsed;
      } catch {
        // reported below
      }
      problems.push(`${name}: expected a JSON list such as [110, [200, 299]] or a comma list such as 110,2*`);
      return undefined;
    }
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
    case 'loglevel': {
      const level = normalizeLogLevel(raw);
      if (level) return level;
      problems.push(
        `${name}: expected error, warn, info or debug (or µURU's CRITICAL, FATAL, ERROR, WARNING, INFO, DEBUG; any case)`,
      );
      return undefined;
    }
    case 'admin-listen':
    case 'listen': {
      if (kind === 'admin-listen' && raw.trim() === 'same') return 'same';
      const m = /^(.*):([0-9]{1,5})$/.exec(raw.trim());
      if (!m) {
        problems.push(`${name}: expected host:port`);
        return undefined;
      }
      return { host: m[1].replace(/^\[|\]$/g, '') || '0.0.0.0', port: Number(m[2]) };
    }
  }
}

function readJsonFile(file: string, problems: string[]): Json {
  try {
    const parsed: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      problems.push(`${file}: must hold a JSON object`);
      return {};
    }
    return parsed as Json;
  } catch (e) {
    problems.push(`${file}: ${(e as Error).message}`);
    return {};
  }
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Folder with default.json; defaults to ./config next to the package. */
  configDir?: string;
  /** Extra settings merged last (tests). */
  overrides?: Json;
}

interface ConfigFile {
  file: string;
  json: Json;
}

/** Where a validation problem's value came from, so the message names what the user wrote. */
interface Sources {
  files: ConfigFile[];
  /** Dotted setting path → the variable it was read from. */
  env: Map<string, string>;
  overrides?: Json;
}

function hasPath(json: Json | undefined, parts: readonly string[]): boolean {
  let node: unknown = json;
  for (const p of parts) {
    if (!node || typeof node !== 'object' || !Object.prototype.hasOwnProperty.call(node, p)) return false;
    node = (node as Json)[p];
  }
  return node !== undefined;
}

/**
 * "UURU_HTTP_LISTEN: message" when the value came from a variable (with the part of it,
 * e.g. "UURU_FEDERATION_CODECS (item 2)"), "<file>: dotted.key: message" when it came from
 * a config file, "dotted.key: message" for defaults and overrides.
 */
function describeIssue(issue: z.core.$ZodIssue, sources: Sources): string {
  const parts = issue.path.map(String);
  const dotted = parts.length ? parts.join('.') : '(root)';
  // an unknown key is reported on its parent object; look up the key itself
  const lookup = issue.code === 'unrecognized_keys' && issue.keys.length ? [...parts, issue.keys[0]] : parts;
  if (hasPath(sources.overrides, lookup)) return `${dotted}: ${issue.message}`;
  for (let n = parts.length; n > 0; n--) {
    const variable = sources.env.get(parts.slice(0, n).join('.'));
    if (!variable) continue;
    const rest = parts.slice(n);
    const part =
      rest.length === 0
        ? ''
        : /^[0-9]+$/.test(rest[0])
          ? ` (item ${Number(rest[0]) + 1})`
          : ` (${rest.join('.')})`;
    return `${variable}${part}: ${issue.message}`;
  }
  for (const f of [...sources.files].reverse()) {
    if (hasPath(f.json, lookup)) return `${f.file}: ${dotted}: ${issue.message}`;
  }
  return `${dotted}: ${issue.message}`;
}

/** asterisk.host (before this release) is asterisk.ami.host now; read for one release. */
function moveDeprecatedKeys(f: ConfigFile, warnings: ConfigWarning[]): void {
  const asterisk = f.json.asterisk;
  if (!asterisk || typeof asterisk !== 'object' || Array.isArray(asterisk) || !('host' in asterisk)) return;
  const a = asterisk as Json;
  const ami = a.ami && typeof a.ami === 'object' && !Array.isArray(a.ami) ? (a.ami as Json) : {};
  if (ami.host === undefined) {
    a.ami = { ...ami, host: a.host };
    warnings.push({
      setting: `${f.file}: asterisk.host`,
      message: `${f.file}: asterisk.host is read as asterisk.ami.host for this release only: rename it`,
    });
  } else {
    warnings.push({
      setting: `${f.file}: asterisk.host`,
      message: `${f.file}: asterisk.host is ignored, asterisk.ami.host is set`,
    });
  }
  delete a.host;
}

export interface LoadedConfig {
  config: Config;
  /** For the log at start: aliases used, deprecated names, unknown UURU_* variables. */
  warnings: ConfigWarning[];
}

/**
 * Reads config/default.json, then the file named by UURU_CONFIG_FILE, then
 * UURU_* variables, then overrides; validates strictly. Throws ConfigError
 * with one line per problem, naming the variable or file the value came from.
 */
export function loadConfig(opts: LoadOptions = {}): Config {
  return loadConfigWithWarnings(opts).config;
}

/** loadConfig, and the warnings to log once the logger exists. */
export function loadConfigWithWarnings(opts: LoadOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const problems: string[] = [];
  const warnings: ConfigWarning[] = [];
  const configDir = opts.configDir ?? path.resolve(__dirname, '..', '..', 'config');
  const files: ConfigFile[] = [];
  const defaultFile = path.join(configDir, 'default.json');
  if (fs.existsSync(defaultFile))
    files.push({ file: defaultFile, json: readJsonFile(defaultFile, problems) });
  if (env.UURU_CONFIG_FILE)
    files.push({ file: env.UURU_CONFIG_FILE, json: readJsonFile(env.UURU_CONFIG_FILE, problems) });
  for (const f of files) moveDeprecatedKeys(f, warnings);
  const fromEnv: Json = {};
  const envSources = new Map<string, string>();
  for (const [name, dotted, kind] of ENV_MAP) {
    const chosen = chooseVariable(env, name, warnings);
    if (!chosen) continue;
    const v = parseEnvValue(chosen.name, chosen.raw, kind, problems);
    if (v === undefined) continue;
    setPath(fromEnv, dotted, v);
    envSources.set(dotted, chosen.name);
  }
  warnings.push(...unknownVariableWarnings(env));
  let merged: Json = {};
  for (const f of files) merged = deepMerge(merged, f.json);
  merged = deepMerge(merged, fromEnv);
  if (opts.overrides) merged = deepMerge(merged, opts.overrides);
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const sources: Sources = { files, env: envSources, overrides: opts.overrides };
    for (const issue of result.error.issues) problems.push(describeIssue(issue, sources));
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  const config = result.data;
  config.instance.publicUrl = config.instance.publicUrl.replace(/\/+$/, '');
  return { config, warnings };
}
