/**
 * Shared set-up of the admin-surface tests: real in-process instances
 * (buildApp + start on loopback ports, SQLite in a temp dir, Asterisk
 * switched off unless a test passes its own settings), HTTP helpers and a
 * small JSON Schema checker for validating responses against the OpenAPI
 * document the server publishes.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildApp, type App } from '../../src/app';
import { deepMerge } from '../../src/config/deep-merge';
import { loadConfig } from '../../src/config/load-config';
import type { Clock } from '../../src/core/clock';
import { captureLogger } from '../harness/test-logger';
import { freePort } from '../harness/ports';
import { waitUntil } from '../harness/wait';

export interface Instance {
  name: string;
  app: App;
  adminUrl: string;
  federationUrl: string;
  token: string;
  dataDir: string;
  logs: () => string;
  stop(): Promise<void>;
  /** Stops the app but keeps its data, as a partner that went down. */
  halt(): Promise<void>;
  /**
   * Starts it again on the same federation port with the same data (the admin port changes); settings
   * given are merged over the ones it was started with (e.g. an opt-in switched off).
   */
  resume(overrides?: Record<string, unknown>): Promise<void>;
}

export async function startInstance(
  name: string,
  opts: { clock?: Clock; overrides?: Record<string, unknown> } = {},
): Promise<Instance> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `uuru-admin-${name}-`));
  const fedPort = await freePort();
  const token = crypto.randomBytes(24).toString('base64url');
  const federationUrl = `http://127.0.0.1:${fedPort}`;
  const configOf = (more: Record<string, unknown>) =>
    loadConfig({ env: {}, overrides: deepMerge(baseOverrides, more) });
  const baseOverrides: Record<string, unknown> = {
    dataDir,
    instance: { publicUrl: federationUrl, iax2Host: '127.0.0.1' },
    http: { federation: { host: '127.0.0.1', port: fedPort }, admin: { host: '127.0.0.1', port: 0 } },
    asterisk: { enabled: false },
    admin: { bootstrapToken: token },
    jobs: { outboxPollMs: 100 },
    federation: { outboxRetryBaseMs: 100, outboxRetryMaxMs: 500 },
    log: { level: 'debug', format: 'json' },
    ...(opts.overrides ?? {}),
  };
  let config = configOf({});
  const { logger, text } = captureLogger('debug');
  const launch = async (): Promise<App> => {
    const app = buildApp(config, { logger, clock: opts.clock });
    try {
      await app.start({ waitForDb: true });
    } catch (e) {
      await app.stop().catch(() => undefined);
      throw e;
    }
    return app;
  };
  const app = await launch();
  let halted = false;
  const instance: Instance = {
    name,
    app,
    adminUrl: app.adminUrl,
    federationUrl,
    token,
    dataDir,
    logs: text,
    async stop() {
      if (!halted) await instance.app.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
    async halt() {
      halted = true;
      await instance.app.stop();
    },
    async resume(overrides) {
      if (overrides) config = configOf(overrides);
      instance.app = await launch();
      instance.adminUrl = instance.app.adminUrl;
      halted = false;
    },
  };
  return instance;
}

export interface HttpResult {
  status: number;
  json: unknown;
  text: string;
  headers: Headers;
}

function parseJsonOrNull(text: string): unknown {
  try {
    return text ? (JSON.parse(text) as unknown) : null;
  } catch {
    return null;
  }
}

export async function call(
  baseUrl: string,
  method: string,
  urlPath: string,
  opts: { token?: string | null; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<HttpResult> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.rawBody !== undefined) body = opts.rawBody;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  const send = () =>
    fetch(baseUrl + urlPath, {
      method,
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(30_000),
    });
  let res: Response;
  try {
    res = await send();
  } catch (e) {
    // A test that stops and restarts an instance on the same port can meet a pooled keep-alive socket the
    // old server closed ("other side closed", seen under load): a GET is sent once more, on a new socket.
    const cause = e instanceof TypeError ? (e.cause as { code?: string } | undefined) : undefined;
    if (method !== 'GET' || cause?.code !== 'UND_ERR_SOCKET') throw e;
    res = await send();
  }
  const text = await res.text();
  return { status: res.status, json: parseJsonOrNull(text), text, headers: res.headers };
}

/** The admin API of an instance, with its bootstrap token unless told otherwise. */
export function adminApi(i: Instance) {
  return (method: string, apiPath: string, body?: unknown, token: string | null = i.token) =>
    call(i.adminUrl, method, `/api/admin${apiPath}`, { token, body });
}

// ---- a JSON Schema (2020-12 subset) checker, enough for the documents zod emits

type Schema = Record<string, unknown>;

export function schemaErrors(schema: Schema, value: unknown, root: Schema, at = '$'): string[] {
  if (typeof schema.$ref === 'string') {
    const ref = schema.$ref.replace(/^#\//, '').split('/');
    let target: unknown = root;
    for (const part of ref) target = (target as Record<string, unknown>)[part];
    if (!target) return [`${at}: unresolved $ref ${schema.$ref}`];
    return schemaErrors(target as Schema, value, root, at);
  }
  const errors: string[] = [];
  if (Array.isArray(schema.anyOf)) {
    const ok = (schema.anyOf as Schema[]).some((s) => schemaErrors(s, value, root, at).length === 0);
    if (!ok) errors.push(`${at}: matches none of anyOf`);
  }
  if (Array.isArray(schema.oneOf)) {
    const n = (schema.oneOf as Schema[]).filter((s) => schemaErrors(s, value, root, at).length === 0).length;
    if (n !== 1) errors.push(`${at}: matches ${n} of oneOf`);
  }
  if ('const' in schema && JSON.stringify(schema.const) !== JSON.stringify(value))
    errors.push(`${at}: not the constant`);
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    errors.push(`${at}: ${JSON.stringify(value)} not in enum`);
  }
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    const actual =
      value === null
        ? 'null'
        : Array.isArray(value)
          ? 'array'
          : typeof value === 'number'
            ? Number.isInteger(value)
              ? 'integer'
              : 'number'
            : typeof value;
    const ok = types.some((t) => t === actual || (t === 'number' && actual === 'integer'));
    if (!ok) return [...errors, `${at}: expected ${types.join('|')}, got ${actual}`];
  }
  if (
    typeof value === 'string' &&
    typeof schema.pattern === 'string' &&
    !new RegExp(schema.pattern).test(value)
  ) {
    errors.push(`${at}: does not match ${schema.pattern}`);
  }
  if (Array.isArray(value) && schema.items && typeof schema.items === 'object') {
    value.forEach((v, i) => errors.push(...schemaErrors(schema.items as Schema, v, root, `${at}[${i}]`)));
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const req of (schema.required ?? []) as string[])
      if (!(req in obj)) errors.push(`${at}.${req}: required`);
    for (const [k, v] of Object.entries(obj)) {
      if (props[k]) errors.push(...schemaErrors(props[k], v, root, `${at}.${k}`));
      else if (schema.additionalProperties === false) errors.push(`${at}.${k}: not allowed`);
    }
  }
  return errors;
}

/** Checks a response against the schema the OpenAPI document gives for this operation and status. */
export function responseSchemaErrors(
  doc: Schema,
  method: string,
  docPath: string,
  status: number,
  body: unknown,
): string[] {
  const paths = doc.paths as Record<string, Record<string, Schema>>;
  const op = paths[docPath]?.[method.toLowerCase()];
  if (!op) return [`${method} ${docPath} is not documented`];
  const resp = (op.responses as Record<string, Schema>)[String(status)];
  if (!resp) return [`${method} ${docPath} does not document status ${status}`];
  const content = resp.content as Record<string, { schema: Schema }> | undefined;
  if (!content)
    return body === null || body === '' ? [] : [`${method} ${docPath} ${status} documents no body`];
  return schemaErrors(content['application/json'].schema, body, doc);
}

// ---- panel sessions

export function setCookies(res: HttpResult): string[] {
  return res.headers.getSetCookie();
}

export function cookieValue(res: HttpResult, name: string): string | null {
  for (const c of setCookies(res)) {
    const m = new RegExp(`^${name}=([^;]*)`).exec(c);
    if (m) return m[1];
  }
  return null;
}

export function hiddenCsrf(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no CSRF field in the page');
  return m[1];
}

export function form(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

export interface PanelSession {
  cookie: string;
  csrf: string;
  get(urlPath: string, headers?: Record<string, string>): Promise<HttpResult>;
  post(
    urlPath: string,
    fields: Record<string, string>,
    headers?: Record<string, string>,
  ): Promise<HttpResult>;
}

export async function loginForm(
  i: Pick<Instance, 'adminUrl'>,
): Promise<{ loginCookie: string; csrf: string }> {
  const page = await call(i.adminUrl, 'GET', '/panel/login');
  const loginCookie = cookieValue(page, 'uuru_fed_login_csrf');
  if (!loginCookie) throw new Error('no login CSRF cookie');
  return { loginCookie, csrf: hiddenCsrf(page.text) };
}

export async function tryLogin(
  i: Pick<Instance, 'adminUrl'>,
  username: string,
  password: string,
): Promise<HttpResult> {
  const { loginCookie, csrf } = await loginForm(i);
  return call(i.adminUrl, 'POST', '/panel/login', {
    rawBody: form({ _csrf: csrf, username, password }),
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      cookie: `uuru_fed_login_csrf=${loginCookie}`,
    },
  });
}

export async function panelLogin(
  i: Pick<Instance, 'adminUrl'>,
  username: string,
  password: string,
): Promise<PanelSession> {
  const res = await tryLogin(i, username, password);
  if (res.status !== 303) throw new Error(`login failed: ${res.status} ${res.text.slice(0, 300)}`);
  const id = cookieValue(res, 'uuru_fed_session');
  if (!id) throw new Error('no session cookie');
  const cookie = `uuru_fed_session=${id}`;
  const page = await call(i.adminUrl, 'GET', '/panel/federation', { headers: { cookie } });
  const csrf = hiddenCsrf(page.text);
  return {
    cookie,
    csrf,
    get: (urlPath, headers = {}) => call(i.adminUrl, 'GET', urlPath, { headers: { cookie, ...headers } }),
    post: (urlPath, fields, headers = {}) =>
      call(i.adminUrl, 'POST', urlPath, {
        rawBody: form(fields),
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', ...headers },
      }),
  };
}

/**
 * A real peering between two running instances through their admin APIs: A
 * requests (prefix aPrefix for B), B accepts (prefix bPrefix for A); resolves
 * once both have the Peer row. Returns the peer ids on A and on B.
 */
export async function peerInstances(
  a: Instance,
  b: Instance,
  p: { name: string; aPrefix: string; bPrefix: string },
): Promise<{ onA: string; onB: string }> {
  const created = await adminApi(a)('POST', '/federation/outgoing-requests', {
    name: p.name,
    partner_url: b.federationUrl,
    prefix: p.aPrefix,
    codec: 'alaw',
  });
  if (created.status !== 201) throw new Error(`request refused: ${created.status} ${created.text}`);
  const incoming = await waitUntil(
    async () => {
      const res = await adminApi(b)('GET', '/federation/incoming-requests');
      return (res.json as { requests: { id: string; name: string }[] }).requests.find(
        (r) => r.name === p.name,
      );
    },
    { what: `${b.name} has the request ${p.name}` },
  );
  const accepted = await adminApi(b)('POST', `/federation/incoming-requests/${incoming.id}/accept`, {
    prefix: p.bPrefix,
  });
  if (accepted.status !== 200) throw new Error(`accept refused: ${accepted.status} ${accepted.text}`);
  const peerId = (i: Instance) =>
    waitUntil(
      async () => {
        const res = await adminApi(i)('GET', '/federation/peers');
        return (res.json as { peers: { id: string; name: string }[] }).peers.find((x) => x.name === p.name)
          ?.id;
      },
      { what: `${i.name} has the peer ${p.name}` },
    );
  return { onA: await peerId(a), onB: await peerId(b) };
}
