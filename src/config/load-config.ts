import fs from 'node:fs';
import path from 'node:path';
import { configSchema, type Config } from './schema';
import { deepMerge } from '../core/deep-merge';

type Kind = 'string' | 'int' | 'bool' | 'list' | 'listen' | 'admin-listen' | 'trust-proxy' | 'numbers';

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
  ['UURU_ASTERISK_HOST', 'asterisk.host', 'string'],
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
  ['UURU_ASTERISK_DATABASE_SERVER', 'asterisk.realtimeDb.host', 'string'],
  ['UURU_ASTERISK_DATABASE_PORT', 'asterisk.realtimeDb.port', 'int'],
  ['UURU_ASTERISK_DATABASE_USER', 'asterisk.realtimeDb.user', 'string'],
  ['UURU_ASTERISK_DATABASE_PASSWORD', 'asterisk.realtimeDb.password', 'string'],
  ['UURU_ASTERISK_DATABASE_DB', 'asterisk.realtimeDb.database', 'string'],
  ['UURU_ASTERISK_DATABASE_SOCKET', 'asterisk.realtimeDb.socketPath', 'string'],
  ['UURU_FEDERATION_POLICY_MODE', 'federation.policyMode', 'string'],
  ['UURU_FEDERATION_ALLOW_LEGACY', 'federation.allowLegacy', 'bool'],
  ['UURU_KEY_ENCRYPTION_SECRET', 'federation.keyEncryptionSecret', 'string'],
  ['UURU_ADMIN_BOOTSTRAP_TOKEN', 'admin.bootstrapToken', 'string'],
  ['UURU_ADMIN_URL', 'cli.adminUrl', 'string'],
  ['UURU_ADMIN_TOKEN', 'cli.adminToken', 'string'],
  ['UURU_PHONEBOOK_FILE', 'phonebook.file', 'string'],
  ['UURU_PHONEBOOK_DATABASE_SERVER', 'phonebook.uuruDatabase.host', 'string'],
  ['UURU_PHONEBOOK_DATABASE_PORT', 'phonebook.uuruDatabase.port', 'int'],
  ['UURU_PHONEBOOK_DATABASE_USER', 'phonebook.uuruDatabase.user', 'string'],
  ['UURU_PHONEBOOK_DATABASE_PASSWORD', 'phonebook.uuruDatabase.password', 'string'],
  ['UURU_PHONEBOOK_DATABASE_DB', 'phonebook.uuruDatabase.database', 'string'],
  ['UURU_PHONEBOOK_DATABASE_SOCKET', 'phonebook.uuruDatabase.socketPath', 'string'],
  ['UURU_LOGLEVEL', 'log.level', 'string'],
  ['UURU_LOG_FORMAT', 'log.format', 'string'],
];

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

/**
 * Reads config/default.json, then the file named by UURU_CONFIG_FILE, then
 * UURU_* variables, then overrides; validates strictly. Throws ConfigError
 * with one "path: message" line per problem.
 */
export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const problems: string[] = [];
  const configDir = opts.configDir ?? path.resolve(__dirname, '..', '..', 'config');
  let merged: Json = {};
  const defaultFile = path.join(configDir, 'default.json');
  if (fs.existsSync(defaultFile)) merged = deepMerge(merged, readJsonFile(defaultFile, problems));
  if (env.UURU_CONFIG_FILE) merged = deepMerge(merged, readJsonFile(env.UURU_CONFIG_FILE, problems));
  const fromEnv: Json = {};
  for (const [name, dotted, kind] of ENV_MAP) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const v = parseEnvValue(name, raw, kind, problems);
    if (v !== undefined) setPath(fromEnv, dotted, v);
  }
  merged = deepMerge(merged, fromEnv);
  if (opts.overrides) merged = deepMerge(merged, opts.overrides);
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const where = issue.path.length ? issue.path.join('.') : '(root)';
      problems.push(`${where}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  const config = result.data;
  config.instance.publicUrl = config.instance.publicUrl.replace(/\/+$/, '');
  return config;
}
