/**
 * The flooding client of the federation-api scenario, in its own process so
 * its CPU use does not distort the latencies the main process measures. Sends
 * from a second loopback address as fast as it can: unsigned calls, calls
 * with a forged signature under the real partner's keyid (each costs the
 * server an Ed25519 verification until the per-IP limit stops it), junk
 * bodies on v2 and v1, and descriptor fetches. Prints `ready` when it starts
 * flooding and its counts as one JSON line when done.
 */
import { generateKeyPairSync } from 'node:crypto';
import { signRequest } from '../src/federation/http-signature';
import { closedLoop, LoopbackClient, type LoopbackRequest } from './loopback-client';

interface FloodArgs {
  baseUrl: string;
  localAddress: string;
  concurrency: number;
  durationMs: number;
  requestId: string;
  partnerKeyId: string;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as FloodArgs;
  const forger = { keyId: args.partnerKeyId, privateKey: generateKeyPairSync('ed25519').privateKey };
  const client = new LoopbackClient(args.baseUrl, {
    localAddress: args.localAddress,
    maxSockets: args.concurrency,
  });
  const peeringPath = `/federation/v2/peerings/${args.requestId}`;
  const junk = Buffer.from('{"request_id": 12, "name": "x\\n[evil]"');
  const make = (i: number): LoopbackRequest => {
    switch (i % 5) {
      case 0:
        return { method: 'GET', path: peeringPath };
      case 1:
        return {
          method: 'GET',
          path: peeringPath,
          headers: signRequest({
            method: 'GET',
            url: args.baseUrl + peeringPath,
            key: forger,
            now: Date.now(),
          }),
        };
      case 2:
        return {
          method: 'POST',
          path: '/federation/v2/peering-requests',
          headers: { 'content-type': 'application/json' },
          body: junk,
        };
      case 3:
        return {
          method: 'POST',
          path: '/api/v1/federation/incoming/request',
          headers: { 'content-type': 'application/json' },
          body: junk,
        };
      default:
        return { method: 'GET', path: '/.well-known/uuru-federation' };
    }
  };
  // The measured phase starts on this line, once the worker is compiled and its first answer came back:
  // ts-node's start-up CPU must not be counted as flood.
  await client.request(make(0));
  process.stdout.write('ready\n');
  const out = await closedLoop(client, make, {
    concurrency: args.concurrency,
    count: Number.MAX_SAFE_INTEGER,
    maxMs: args.durationMs,
  });
  client.close();
  process.stdout.write(
    JSON.stringify({
      requests: out.latencies.length,
      statuses: out.statuses,
      errors: out.errors,
      elapsedMs: out.elapsedMs,
    }) + '\n',
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`flood worker: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
