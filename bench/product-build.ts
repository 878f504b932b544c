import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * The tree whose product is built and run: this one, or the older build of a
 * same-run comparison (bench/compare.ts sets UURU_BENCH_SIDECAR_ROOT).
 */
export function productRoot(): string {
  return path.resolve(process.env.UURU_BENCH_SIDECAR_ROOT ?? path.resolve(__dirname, '..'));
}

/** Trees built in this process already (a comparison runs a scenario many times on the same two builds). */
const built = new Set<string>();

/**
 * Builds dist/ the way `npm start` does (its prestart runs `npm run build`),
 * so a scenario can measure the product as it runs in production rather than
 * under ts-node, whose compiler stays in the heap. Throws when no
 * dist/main.js comes out; type errors elsewhere in the tree (tsc still emits)
 * are handed back for the scenario's notes. Once per tree and process.
 */
export function buildProduct(): { typeErrors: string | null } {
  const root = productRoot();
  if (built.has(root)) return { typeErrors: null };
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const started = Date.now();
  const res = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], {
    cwd: root,
    encoding: 'utf8',
    timeout: 300_000,
  });
  const main = path.join(root, 'dist', 'main.js');
  if (!fs.existsSync(main) || fs.statSync(main).mtimeMs < started - 1000) {
    throw new Error(`npm run build produced no dist/main.js: ${(res.stdout + res.stderr).slice(0, 2000)}`);
  }
  built.add(root);
  return { typeErrors: res.status === 0 ? null : (res.stdout + res.stderr).slice(0, 500) };
}
