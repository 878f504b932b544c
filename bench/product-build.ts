import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

/**
 * Builds dist/ the way `npm start` does (its prestart runs `npm run build`),
 * so a scenario can measure the product as it runs in production rather than
 * under ts-node, whose compiler stays in the heap. Throws when no
 * dist/main.js comes out; type errors elsewhere in the tree (tsc still emits)
 * are handed back for the scenario's notes.
 */
export function buildProduct(): { typeErrors: string | null } {
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const started = Date.now();
  const res = spawnSync(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.build.json')], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 300_000,
  });
  const main = path.join(ROOT, 'dist', 'main.js');
  if (!fs.existsSync(main) || fs.statSync(main).mtimeMs < started - 1000) {
    throw new Error(`npm run build produced no dist/main.js: ${(res.stdout + res.stderr).slice(0, 2000)}`);
  }
  return { typeErrors: res.status === 0 ? null : (res.stdout + res.stderr).slice(0, 500) };
}
