import { setFlagsFromString } from 'node:v8';

/**
 * V8's young generation starts at 1 MB per semi-space and doubles whenever a
 * scavenge finds much of it alive, up to 16 MB, and never shrinks back. The
 * sidecar allocates in bursts (a start or a reconcile over 1,000 peers reads,
 * renders and compares everything at once) and is mostly idle in between: one
 * burst left it holding a 32 MB young generation for good. A growth factor of
 * 1 keeps it at its start size; what outlives two scavenges moves to the old
 * generation, which is collected and shrinks as usual. V8 reads the factor
 * each time it would grow the space, so setting it here, first thing in main,
 * works.
 *
 * Measured with the bench scale scenario (1,000 peers, RSS 2 s after all are
 * verified, three starts each): 146-154 MB without, 127-128 MB with it, and
 * the ratio of a full reconcile to Asterisk's own reload unchanged within the
 * noise (1.51 in one run). --optimize-for-size as well took the RSS to
 * 106-123 MB but a full reconcile to 2.1-2.3 times the reload (more
 * mark-compacts during each run): not used.
 *
 * It costs the signed federation path more scavenges per request (twice as
 * many at 16 in flight); kept after measuring again (docs/performance.md,
 * Decisions): without it the 1,000-peer RSS is 145-154 MB.
 */
setFlagsFromString('--semi-space-growth-factor=1');
