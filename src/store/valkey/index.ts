export { KEY_PREFIX, orUnavailable, ValkeyConnection } from './client';
export { ValkeyLoginFailures } from './login-failures';
export { ValkeyRateLimiter } from './rate-limits';
export { ValkeySessionStore } from './sessions';
export { ValkeySharedBuckets } from './buckets';
