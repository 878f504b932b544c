import fs from 'node:fs';
import path from 'node:path';

/**
 * The version in package.json, for `uuru-fed --version` and the admin API's
 * status. Read at run time: the file sits two folders up from both src/core
 * and dist/core, and tsc would not copy it into dist.
 */
function readVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export const PACKAGE_VERSION = readVersion();
