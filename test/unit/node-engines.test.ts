import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** npm's own range library (semver, installed with the test tools; it ships no types), the three calls used here. */
interface Semver {
  validRange(range: string): string | null;
  minVersion(range: string): { version: string } | null;
  satisfies(version: string, range: string): boolean;
}
const semver = createRequire(__filename)('semver') as Semver;

/**
 * package.json `engines.node` says what the sidecar really runs on: the
 * lowest Node.js of each line it names satisfies every runtime dependency's
 * own `engines` (typeorm 1.x needs 20.19 / 22.13 / 24.11), and the Node this
 * suite runs on (CI's) is inside the range. `>=20` claimed 20.0, on which
 * typeorm does not run.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
const pkg = readJson(path.join(ROOT, 'package.json')) as {
  engines: { node: string };
  dependencies: Record<string, string>;
};

it('the lowest Node.js of each line package.json names runs every runtime dependency', () => {
  const range = pkg.engines.node;
  expect(semver.validRange(range)).not.toBeNull();
  const floors = range.split('||').map((branch) => semver.minVersion(branch.trim())!.version);
  const refused: string[] = [];
  for (const dep of Object.keys(pkg.dependencies)) {
    const own = (
      readJson(path.join(ROOT, 'node_modules', dep, 'package.json')).engines as { node?: string } | undefined
    )?.node;
    if (!own) continue;
    for (const v of floors) if (!semver.satisfies(v, own)) refused.push(`${dep} (${own}) refuses ${v}`);
  }
  expect(refused).toEqual([]);
});

it('the Node.js this suite runs on is inside the range', () => {
  expect(semver.satisfies(process.versions.node, pkg.engines.node)).toBe(true);
});
