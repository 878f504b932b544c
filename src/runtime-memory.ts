import { setFlagsFromString } from 'node:v8';

/**
 * V8 settings for a long-running, mostly idle process whose work comes in
 * bursts (a start or a reconcile over 1,000 peers reads, renders and compares
 * everything at once). Loaded first by main, before the heap has grown; both
 * are read by V8 each time it sizes the heap, so setting them here works.
 *
 * - The young generation starts at 1 MB per semi-space and doubles whenever a
 *   scavenge finds much of it alive, up to 16 MB, and never shrinks back: one
 *   burst left the sidecar holding a 32 MB young generation for good. A growth
 *   factor of 1 keeps it at its start size; what outlives two scavenges moves to
 *   the old generation, which is collected and shrinks as usual.
 * - optimize-for-size: the old generation grows in smaller steps (collected
 *   sooner instead of growing into garbage).
 *
 * Measured with the bench scale scenario (1,000 peers, RSS 2 s after all are
 * verified, three starts each): 146-154 MB without either, 127-128 MB with the
 * growth factor, 119-123 MB with both. See docs/performance.md.
 */
setFlagsFromString('--semi-space-growth-factor=1');
setFlagsFromString('--optimize-for-size');
