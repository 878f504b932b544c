import net from 'node:net';
import { type AmiMessage, AmiParser, serializeAction } from '../asterisk/ami-protocol';
import type { LoginFailure } from './check';

/**
 * A fresh, one-shot AMI connection for the doctor: it tells apart what the
 * long-lived client (src/asterisk/ami-client.ts) only sees as "not
 * connected": nothing listening (or no answer), something that is not AMI
 * on that port, and a refused login. It logs in without events and is closed
 * after the checks, so it never disturbs the sidecar's own sessions.
 */

const GREETING = 'Asterisk Call Manager';

export type AmiOpenOutcome = { kind: 'ok'; session: AmiSession; greeting: string } | LoginFailure;

export interface AmiTarget {
  host: string;
  port: number;
  username: string;
  secret: string;
  /** Connect, greeting and per-action time limit, ms. */
  timeoutMs: number;
}

/** Printable excerpt of what a non-AMI server sent: no control characters, at most 60 characters. */
export function printable(bytes: string): string {
  const line = bytes
    .split(/\r?\n/, 1)[0]
    .replace(/[^\x20-\x7e]/g, '?')
    .trim();
  return line.length > 60 ? `${line.slice(0, 60)}…` : line;
}

function socketErrorText(e: NodeJS.ErrnoException, where: string): string {
  switch (e.code) {
    case 'ECONNREFUSED':
      return `nothing listens at ${where} (connection refused)`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${where} cannot be reached from here (${e.code})`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host name of ${where} does not resolve (${e.code})`;
    default:
      return `${where}: ${e.code ?? e.message}`;
  }
}

export class AmiSession {
  private readonly parser = new AmiParser();
  private readonly waiting = new Map<string, (m: AmiMessage) => void>();
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly timeoutMs: number,
  ) {
    socket.on('data', (chunk: string) => {
      for (const m of this.parser.push(chunk)) {
        const resolve = m.actionid === undefined ? undefined : this.waiting.get(m.actionid);
        if (resolve) {
          this.waiting.delete(m.actionid);
          resolve(m);
        }
      }
    });
    socket.on('close', () => {
      this.closed = true;
    });
  }

  /** Sends one action and resolves with its response; rejects on a time-out or a closed connection. */
  action(fields: Record<string, string>): Promise<AmiMessage> {
    if (this.closed) return Promise.reject(new Error('the AMI connection closed'));
    const id = `uuru-doctor-${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`AMI ${fields.Action} had no answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiting.set(id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      this.socket.write(serializeAction({ ...fields, ActionID: id }));
    });
  }

  /** A CLI command over AMI: whether Asterisk ran it, and its output. */
  async command(cli: string): Promise<{ ok: boolean; output: string }> {
    const m = await this.action({ Action: 'Command', Command: cli });
    return { ok: m.response?.toLowerCase() === 'success', output: m.output ?? m.message ?? '' };
  }

  /**
   * A configuration file as Asterisk reads it now (GetConfig reads the file
   * afresh, includes resolved): its categories with their lines, or the error
   * Asterisk answered (e.g. the file does not exist in its config folder).
   */
  async getConfig(file: string): Promise<{ categories: Map<string, string[]> } | { error: string }> {
    const m = await this.action({ Action: 'GetConfig', Filename: file });
    if (m.response?.toLowerCase() !== 'success') return { error: m.message ?? 'error' };
    const categories = new Map<string, string[]>();
    const names = new Map<string, string>();
    for (const [key, value] of Object.entries(m)) {
      const c = /^category-(\d+)$/.exec(key);
      if (c) {
        names.set(c[1], value);
        if (!categories.has(value)) categories.set(value, []);
      }
    }
    for (const [key, value] of Object.entries(m)) {
      const l = /^line-(\d+)-\d+$/.exec(key);
      const name = l ? names.get(l[1]) : undefined;
      if (name !== undefined) categories.get(name)?.push(value);
    }
    return { categories };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.socket.write(serializeAction({ Action: 'Logoff', ActionID: 'uuru-doctor-logoff' }));
    } catch {
      // closing anyway
    }
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 500).unref();
  }
}

/** Connects, checks the greeting and logs in; never throws. */
export function openAmi(t: AmiTarget): Promise<AmiOpenOutcome> {
  const where = `${t.host}:${t.port}`;
  return new Promise((resolve) => {
    let settled = false;
    let received = '';
    let greeted = false;
    const socket = net.connect({ host: t.host, port: t.port });
    socket.setEncoding('utf8');
    const finish = (o: AmiOpenOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      if (o.kind !== 'ok') socket.destroy();
      resolve(o);
    };
    let timer = setTimeout(
      () => finish({ kind: 'unreachable', detail: `no answer from ${where} within ${t.timeoutMs} ms` }),
      t.timeoutMs,
    );
    socket.once('connect', () => {
      clearTimeout(timer);
      timer = setTimeout(
        () =>
          finish({
            kind: 'wrong_port',
            detail: `something accepts connections at ${where} but sent no AMI greeting within ${t.timeoutMs} ms (is it Asterisk's HTTP/ARI port, or TLS?)`,
          }),
        t.timeoutMs,
      );
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (greeted) return;
      finish({ kind: 'unreachable', detail: socketErrorText(e, where) });
    });
    socket.on('close', () => {
      if (greeted) return;
      finish({
        kind: 'wrong_port',
        detail: received
          ? `something at ${where} answered "${printable(received)}" and closed the connection: that is not AMI`
          : `something at ${where} accepted the connection and closed it without an AMI greeting`,
      });
    });
    const onData = (chunk: string) => {
      received += chunk;
      if (!/\r?\n/.test(received) && received.length < 200) return;
      if (!received.startsWith(GREETING)) {
        finish({
          kind: 'wrong_port',
          detail: `something at ${where} answered "${printable(received)}": that is not AMI (AMI greets with "${GREETING}/…")`,
        });
        return;
      }
      greeted = true;
      socket.off('data', onData);
      clearTimeout(timer);
      const greeting = printable(received);
      const session = new AmiSession(socket, t.timeoutMs);
      // The greeting is already here: hand it to the session's parser as the first chunk.
      socket.emit('data', received);
      session
        .action({ Action: 'Login', Username: t.username, Secret: t.secret, Events: 'off' })
        .then((m) => {
          if (m.response?.toLowerCase() === 'success') {
            finish({ kind: 'ok', session, greeting });
            return;
          }
          finish({
            kind: 'login_refused',
            detail: `Asterisk at ${where} refused the login of user "${t.username}": "${m.message ?? 'no reason given'}"`,
          });
        })
        .catch((e: unknown) =>
          finish({
            kind: 'login_refused',
            detail: `Asterisk at ${where} did not complete the login of user "${t.username}": ${(e as Error).message}`,
          }),
        );
    };
    socket.on('data', onData);
  });
}
