/**
 * What the start-up log says about the network: where each listener is
 * really bound (the socket's address, not the configured default string),
 * and what is advertised to partners (our web address and IAX2 host), with a
 * warning for an advertised address no other machine can reach.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config/schema';
import { unroutableReason } from './core/network-address';
import type { Logger } from './logging/logger';

/** The bound address of a listening server as host:port, with what an unspecified address means. */
export function boundAddress(server: http.Server): string {
  const addr = server.address() as AddressInfo | string | null;
  if (addr === null) return 'not listening';
  if (typeof addr === 'string') return addr;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const every =
    addr.address === '0.0.0.0' ? ' (every IPv4 address)' : addr.address === '::' ? ' (every address)' : '';
  return `${host}:${addr.port}${every}`;
}

export function logStartup(
  logger: Logger,
  config: Config,
  servers: { federation: http.Server; admin: http.Server | null },
): void {
  const log = logger.child({ component: 'app' });
  const federation = boundAddress(servers.federation);
  log.info('listening', {
    federation,
    admin: servers.admin ? boundAddress(servers.admin) : `${federation} (the same listener)`,
  });
  const { publicUrl, iax2Host, iax2Port } = config.instance;
  log.info('advertised to partners', { webAddress: publicUrl, iax2: `${iax2Host}:${iax2Port}` });
  let webHost = '';
  try {
    webHost = new URL(publicUrl).hostname;
  } catch {
    // the configuration schema checked it is a URL
  }
  const web = unroutableReason(webHost);
  if (web) {
    log.warn(
      `the web address advertised to partners, ${publicUrl}, is a ${web} address: partners on other machines cannot reach it (set UURU_FEDERATION_UURU_HOST)`,
      { advertised: 'webAddress' },
    );
  }
  const iax = unroutableReason(iax2Host);
  if (iax) {
    log.warn(
      `the IAX2 host advertised to partners, ${iax2Host}, is a ${iax} address: partners' calls cannot reach this Asterisk (set UURU_FEDERATION_IAX2_HOST)`,
      { advertised: 'iax2Host' },
    );
  }
}
