import type { Router } from 'express';
import type { Feature } from '../core/feature';
import type { FastRoute, RequestGate } from './federation/client-rate-limit';

/** A feature that adds routes to the listeners (src/http owns everything express). */
export interface HttpFeature extends Feature {
  federationRouter?: Router;
  /** Consulted for every request on the federation listener before Express routes it. */
  federationGate?: RequestGate;
  /** Consulted once the sidecar is ready, after the gates: a route it answers never reaches Express. */
  federationFastRoute?: FastRoute;
  adminRouter?: Router;
}
