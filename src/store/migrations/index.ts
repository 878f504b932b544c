import { Initial1763800000001 } from './0001-initial';

/** Every migration, in order. Add new ones at the end; never edit a landed one. */
export const MIGRATIONS = [Initial1763800000001];
