import { Router } from 'express';
import type { Config } from '../../config/schema';
import type { Clock } from '../../core/clock';
import type { Metrics } from '../../core/metrics';
import type { FederationSurface } from '../../federation';
import type { Logger } from '../../logging/logger';
import type { HttpFeature } from '../http-feature';
import { AddressTurns } from './address-turns';
import { perIpGate } from './client-rate-limit';
import { legacyRoutes } from './legacy-routes';
import { v2Routes } from './v2-routes';

/**
 * Calls of one address in the routes behind Express at once (address-turns.ts).
 * Two: a partner's handshake (a request, then its accept or a revoke) never
 * waits for a turn, and a flooder's burst adds at most two calls' work to each
 * turn of the event loop.
 */
const TURNS_PER_ADDRESS = 2;

/**
 * The federation listener's HTTP side: the descriptor, uuru-fed/2 and the
 * stock µURU v1 API, and the per-IP gate in front of them. The routes parse
 * and authenticate requests, call the protocol core (src/federation) through
 * its surface and turn its answers and errors into statuses; the core itself
 * knows nothing about HTTP servers.
 */
export function createFederationHttpFeature(
  surface: FederationSurface,
  ctx: { config: Config; clock: Clock; metrics: Metrics; logger: Logger },
): HttpFeature {
  const { config, clock, metrics, logger } = ctx;
  const router = Router();
  // One set of turns for every route behind Express: an address's calls take turns across v1, v2 and the descriptor.
  const turns = new AddressTurns(TURNS_PER_ADDRESS);
  const v2 = v2Routes({ ...surface, config, clock, metrics, logger, turns });
  router.use(v2.router);
  router.use(
    legacyRoutes({
      config,
      metrics,
      logger,
      inbound: surface.inbound,
      phonebook: surface.phonebook,
      perIp: surface.perIp,
      turns,
    }),
  );
  return {
    name: 'federation-http',
    federationRouter: router,
    federationGate: perIpGate(surface.perIp, metrics, { trustProxy: config.http.trustProxy }),
    ...(v2.fastRoute ? { federationFastRoute: v2.fastRoute } : {}),
  };
}
