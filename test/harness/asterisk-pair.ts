import crypto from 'node:crypto';
import { type AsteriskInstance, type StartAsteriskOptions, startAsterisk, TEST_CONTEXT } from './asterisk';
import { freeUdpPort } from './ports';

export interface IaxFriendOptions {
  name: string;
  /** The other side's IAX2 port on 127.0.0.1. */
  port: number;
  secret: string;
  context?: string;
  /** Qualify frequencies in ms; short so tests see state changes quickly. */
  qualifyFreqOkMs?: number;
  qualifyFreqNotOkMs?: number;
}

/** A hand-written IAX2 friend as an operator would write it (encryption and qualify on). */
export function iaxFriend(o: IaxFriendOptions): string {
  return [
    `[${o.name}]`,
    'type = friend',
    'host = 127.0.0.1',
    `port = ${o.port}`,
    `username = ${o.name}`,
    `secret = ${o.secret}`,
    `context = ${o.context ?? TEST_CONTEXT}`,
    'encryption = yes',
    'forceencryption = yes',
    'requirecalltoken = yes',
    'transfer = no',
    'qualify = yes',
    `qualifyfreqok = ${o.qualifyFreqOkMs ?? 2000}`,
    `qualifyfreqnotok = ${o.qualifyFreqNotOkMs ?? 1000}`,
    'disallow = all',
    'allow = ulaw',
    '',
  ].join('\n');
}

export interface PeeredPair {
  a: AsteriskInstance;
  b: AsteriskInstance;
  /** Peer name on A that reaches B, and on B that reaches A. */
  aToB: string;
  bToA: string;
  stop(): Promise<void>;
}

/**
 * Two instances with an IAX2 friend pair between them (A's "to_b" reaches B,
 * B's "to_a" reaches A). Both friends carry the same user name on each side
 * (the friend's own name), as the federation does.
 */
export async function startPeeredPair(
  opts: { a?: StartAsteriskOptions; b?: StartAsteriskOptions } = {},
): Promise<PeeredPair> {
  const [portA, portB] = [await freeUdpPort(), await freeUdpPort()];
  const secret = crypto.randomBytes(16).toString('hex');
  // Each side authenticates the other by user name, so both friends carry the same name.
  const name = 'uuru_pair';
  const extra = (o: StartAsteriskOptions | undefined, peer: string) =>
    o?.iaxConf ? `${peer}\n${o.iaxConf}` : peer;
  const started = await Promise.allSettled([
    startAsterisk({
      name: 'a',
      ...opts.a,
      iaxPort: portA,
      iaxConf: extra(opts.a, iaxFriend({ name, port: portB, secret })),
    }),
    startAsterisk({
      name: 'b',
      ...opts.b,
      iaxPort: portB,
      iaxConf: extra(opts.b, iaxFriend({ name, port: portA, secret })),
    }),
  ]);
  const [ra, rb] = started;
  if (ra.status === 'rejected' || rb.status === 'rejected') {
    // Never leave half a pair running.
    await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
    throw ra.status === 'rejected' ? ra.reason : (rb as PromiseRejectedResult).reason;
  }
  const [a, b] = [ra.value, rb.value];
  return {
    a,
    b,
    aToB: name,
    bToA: name,
    async stop() {
      await Promise.all([a.stop(), b.stop()]);
    },
  };
}
