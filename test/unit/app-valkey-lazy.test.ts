import { execFileSync } from 'node:child_process';
import path from 'node:path';

// A sidecar without ha.valkeyUrl must not load the Valkey client (ioredis and rate-limiter-flexible add ~20 MB of
// RSS, and the scale bench's limit is 120 MB): the App loads src/store/valkey only when Valkey is configured.
// A fresh Node process, since Jest's module registry is not Node's.
it('loading the App pulls in neither ioredis nor rate-limiter-flexible', () => {
  const root = path.resolve(__dirname, '../..');
  const script = [
    "require('./src/app');",
    'const loaded = Object.keys(require.cache).filter((k) => /node_modules[\\\\/](ioredis|rate-limiter-flexible)[\\\\/]/.test(k));',
    'process.stdout.write(JSON.stringify(loaded));',
  ].join('\n');
  const out = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
    cwd: root,
    encoding: 'utf8',
  });
  expect(JSON.parse(out)).toEqual([]);
  // The check itself sees a loaded library: the Valkey stores do load it.
  const direct = execFileSync(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', '-e', script.replace("'./src/app'", "'./src/store/valkey'")],
    { cwd: root, encoding: 'utf8' },
  );
  expect((JSON.parse(direct) as string[]).length).toBeGreaterThan(0);
}, 60_000);
