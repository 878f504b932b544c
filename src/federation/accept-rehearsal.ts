import { errorMessage } from '../core/errors';
import { uuid, type HandshakeDeps } from './handshake-deps';
import type { PeeringRecords } from './peering-records';
import { v2Accept } from './v2-calls';

/** Thrown inside the rehearsal's transaction so that it rolls back; never leaves rehearseAccept. */
class RolledBack extends Error {}

/**
 * The store and crypto work of an accept (Handshake.acceptOnce), rehearsed
 * once after start so that the first real accept does not pay what only a
 * first run costs: the first lookups of an incoming request and of the
 * admission rows, the first X25519 derivation, the first sealing of a peer's
 * secret, and the first delete, peer insert and outbox insert in one
 * transaction (statements prepared, entity metadata and query builders run).
 *
 * Nothing of it is kept: the transaction is rolled back (the rows it wrote are
 * never committed, so neither another replica nor a partner nor an admin sees
 * them, and nothing is told to Asterisk or the outbox worker). It only reads
 * and derives with our own keys. Never throws: a failure only leaves the
 * path cold, noted at debug level.
 */
export async function rehearseAccept(
  deps: Pick<HandshakeDeps, 'peerings' | 'tx' | 'ownKeys' | 'deriveSecret' | 'outbox' | 'logger' | 'config'>,
  records: PeeringRecords,
): Promise<{ ms: number; outcome: 'rolled_back' | 'failed' }> {
  const startedAt = performance.now();
  let outcome: 'rolled_back' | 'failed' = 'failed';
  try {
    const requestId = uuid();
    // A name and a prefix no real peering holds (a conflict would only end the rehearsal early).
    const name = `warm-up-${requestId.slice(0, 8)}`;
    const serverName = 'warm-up.invalid';
    const partnerUrl = `https://${serverName}`;
    const prefix = `8${requestId.replace(/\D/g, '').slice(0, 7)}`;
    await deps.peerings.findIncoming({ id: requestId });
    // The admission checks read what a real accept reads; a refusal of the made-up peer is an answer like any other.
    await records.checkFree({ name, serverName }, { incomingId: requestId }).catch(() => undefined);
    await records.checkPrefix(prefix, null).catch(() => undefined);
    const own = await deps.ownKeys.agreementKey();
    const secret = deps.deriveSecret({
      ownPrivateKey: own.privateKey,
      partnerPublicKey: own.publicKey,
      requestId,
      name,
    });
    const peer = records.newPeer({
      name,
      prefix,
      partnerUrl,
      partnerServerName: serverName,
      partnerIaxHost: '127.0.0.1',
      partnerIaxPort: 4569,
      partnerExtensionLength: 4,
      codec: 'ulaw',
      secret,
      secretEpochSeconds: null,
      dialect: 'v2',
      requestId,
      role: 'acceptor',
      partnerKeyFingerprint: null,
    });
    const call = v2Accept(partnerUrl, requestId, {
      extension_length: deps.config.instance.extensionDigits,
      iax2: { host: deps.config.instance.iax2Host, port: deps.config.instance.iax2Port },
      agreement_kid: own.kid,
    });
    await deps.tx.run(async (tx) => {
      await deps.peerings.deleteIncoming(requestId, { onlyIfPending: true }, tx);
      await deps.peerings.insertPeer(peer, tx);
      await deps.outbox.enqueue(tx, { kind: 'accept', call, peerName: name, requestId });
      throw new RolledBack();
    });
  } catch (e) {
    if (e instanceof RolledBack) outcome = 'rolled_back';
    else deps.logger.debug('accept rehearsal failed', { component: 'federation', error: errorMessage(e) });
  }
  return { ms: performance.now() - startedAt, outcome };
}
