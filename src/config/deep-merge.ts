export type JsonObject = Record<string, unknown>;

export function isPlainObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * b laid over a: objects present on both sides merge key by key, anything
 * else (a scalar, an array, null) from b replaces what a had. Neither input
 * is changed. Config layers (defaults, file, environment, overrides) and the
 * test and bench configs are combined this way.
 */
export function deepMerge(a: JsonObject, b: JsonObject): JsonObject {
  const out: JsonObject = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = isPlainObject(v) && isPlainObject(prev) ? deepMerge(prev, v) : v;
  }
  return out;
}
