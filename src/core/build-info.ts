import fs from 'node:fs';
import path from 'node:path';

const PACKAGE_NAME = 'uuru-federation';

let cached: string | null = null;

/**
 * The version of the running sidecar, from the package.json it was built
 * from: the nearest one named uuru-federation above this file (src/core in a
 * checkout, dist/src/core in a build). Read from disk rather than imported,
 * so the compiler does not copy package.json into dist/. "unknown" when none
 * is found (a bundle without its manifest).
 */
export function buildVersion(): string {
  if (cached !== null) return cached;
  cached = 'unknown';
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === PACKAGE_NAME && typeof pkg.version === 'string') {
        cached = pkg.version;
        break;
      }
    } catch {
      // no (readable) package.json here: look one folder up
    }
    if (path.dirname(dir) === dir) break;
  }
  return cached;
}
