/**
 * The layer rules (.dependency-cruiser.cjs, docs/architecture.md) as `npm run
 * lint` checks them: the lint's own `lint:layers` command runs on a small
 * tree of probe files in a temporary folder, with the project's rules and its
 * known-violations baseline (empty since issue 12). Each forbidden import must
 * fail the command under its rule; a tree of allowed imports must pass.
 *
 * The probe tree carries stub packages for express and typeorm in its own
 * node_modules, so imports resolve inside it (as node_modules/...) the way
 * the project's do, and no real type declarations need to be read.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const DEPCRUISE = fs.realpathSync(path.join(ROOT, 'node_modules/.bin/depcruise'));
const scripts = (
  JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  }
).scripts;

type Tree = Record<string, string>;

const STUBS: Tree = {
  'node_modules/express/package.json': '{ "name": "express", "main": "index.js" }',
  'node_modules/express/index.js': 'module.exports = {};\n',
  'node_modules/typeorm/package.json': '{ "name": "typeorm", "types": "./index.d.ts" }',
  'node_modules/typeorm/index.d.ts': 'export declare class DataSource {}\n',
};

/** Allowed imports only: each layer importing what it may. */
const CLEAN: Tree = {
  'src/config/schema.ts': 'export const config = 1;\n',
  'src/core/port.ts': "import { config } from '../config/schema';\nexport const port = config;\n",
  'src/store/entities.ts': "import { port } from '../core/port';\nexport const entity = port;\n",
  'src/store/peer-rows.ts': "import { entity } from './entities';\nexport const PeerRunRows = entity;\n",
  'src/federation/handshake.ts': "import { port } from '../core/port';\nexport const handshake = port;\n",
  // The store's TypeORM implementations of the core's ports, chosen by the composition root.
  'src/store/typeorm/outbox-store.ts':
    "import type { DataSource } from 'typeorm';\nexport type Db = DataSource;\nexport const outboxStore = 1;\n",
  'src/asterisk/applier.ts': "import { port } from '../core/port';\nexport const applier = port;\n",
  'src/http/federation/routes.ts':
    "import express from 'express';\nimport { handshake } from '../../federation/handshake';\nexport const routes = [express, handshake];\n",
  'src/app.ts':
    "import { routes } from './http/federation/routes';\nimport { applier } from './asterisk/applier';\nimport { outboxStore } from './store/typeorm/outbox-store';\nexport const app = [routes, applier, outboxStore];\n",
  'src/main.ts': "import { app } from './app';\nexport const main = app;\n",
  // The HTTP layer's own table, through its one module.
  'src/http/admin/audit-trail.ts':
    "import { entity } from '../../store/entities';\nexport const audit = entity;\n",
  'src/doctor/checks.ts':
    "import { applier } from '../asterisk/applier';\nimport { handshake } from '../federation/handshake';\nexport const checks = [applier, handshake];\n",
};

/** One forbidden import per rule, each in its own file: [file, rule it breaks, source]. */
const FORBIDDEN: [string, string, string][] = [
  [
    'src/federation/uses-express.ts',
    'federation-knows-no-http-nor-asterisk',
    "import express from 'express';\nexport const e = express;\n",
  ],
  [
    'src/federation/uses-http.ts',
    'federation-knows-no-http-nor-asterisk',
    "import { routes } from '../http/federation/routes';\nexport const r = routes;\n",
  ],
  [
    'src/federation/uses-asterisk.ts',
    'federation-knows-no-http-nor-asterisk',
    "import { applier } from '../asterisk/applier';\nexport const a = applier;\n",
  ],
  [
    // Listed as a known violation until issue 12; forbidden outright since.
    'src/federation/outbox.ts',
    'federation-knows-no-typeorm',
    "import type { DataSource } from 'typeorm';\nexport type D = DataSource;\n",
  ],
  [
    'src/federation/picks-its-store.ts',
    'core-and-protocol-know-no-store',
    "import { outboxStore } from '../store/typeorm/outbox-store';\nexport const o = outboxStore;\n",
  ],
  [
    'src/federation/uses-entities.ts',
    'core-and-protocol-know-no-store',
    "import { entity } from '../store/entities';\nexport const e = entity;\n",
  ],
  [
    'src/core/uses-store.ts',
    'core-and-protocol-know-no-store',
    "import { entity } from '../store/entities';\nexport const e = entity;\n",
  ],
  [
    'src/http/federation/uses-typeorm.ts',
    'federation-routes-query-no-tables',
    "import type { DataSource } from 'typeorm';\nexport type D = DataSource;\n",
  ],
  [
    'src/asterisk/uses-federation.ts',
    'asterisk-knows-no-protocol-nor-http',
    "import { handshake } from '../federation/handshake';\nexport const h = handshake;\n",
  ],
  [
    'src/asterisk/uses-express.ts',
    'asterisk-knows-no-protocol-nor-http',
    "import express from 'express';\nexport const e = express;\n",
  ],
  [
    'src/asterisk/reads-peers.ts',
    'asterisk-gets-peers-from-its-port',
    "import { PeerRunRows } from '../store/peer-rows';\nexport const p = PeerRunRows;\n",
  ],
  [
    'src/config/not-a-leaf.ts',
    'config-is-a-leaf',
    "import { port } from '../core/port';\nexport const p = port;\n",
  ],
  [
    'src/core/uses-feature.ts',
    'core-imports-no-feature',
    "import { applier } from '../asterisk/applier';\nexport const a = applier;\n",
  ],
  [
    'src/store/uses-feature.ts',
    'store-imports-no-feature',
    "import { handshake } from '../federation/handshake';\nexport const h = handshake;\n",
  ],
  [
    'src/doctor/uses-http.ts',
    'doctor-knows-no-http',
    "import { routes } from '../http/federation/routes';\nexport const r = routes;\n",
  ],
  [
    'src/doctor/uses-express.ts',
    'doctor-knows-no-http',
    "import express from 'express';\nexport const e = express;\n",
  ],
  [
    'src/asterisk/uses-doctor.ts',
    'asterisk-knows-no-protocol-nor-http',
    "import { checks } from '../doctor/checks';\nexport const c = checks;\n",
  ],
  [
    'src/core/uses-doctor.ts',
    'core-imports-no-feature',
    "import { checks } from '../doctor/checks';\nexport const c = checks;\n",
  ],
  [
    'src/http/admin/metrics-route.ts',
    'http-reads-only-its-own-tables',
    "import { entity } from '../../store/entities';\nexport const e = entity;\n",
  ],
  [
    'src/http/uses-app.ts',
    'only-roots-import-app',
    "import type { app } from '../app';\nexport type A = typeof app;\n",
  ],
];

/** A type-only import cycle: reported once, at one of its files. */
const CYCLE: Tree = {
  'src/federation/cycle-a.ts': "import type { B } from './cycle-b';\nexport type A = { b?: B };\n",
  'src/federation/cycle-b.ts': "import type { A } from './cycle-a';\nexport type B = { a?: A };\n",
};

/** Runs the lint's layer check (the `lint:layers` script) in a fresh probe tree. */
function lintLayers(tree: Tree): { status: number | null; output: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-layers-'));
  try {
    for (const f of ['.dependency-cruiser.cjs', '.dependency-cruiser-known-violations.json', 'tsconfig.json'])
      fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
    for (const [file, text] of Object.entries({ ...STUBS, ...tree })) {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), text);
    }
    const [bin, ...args] = scripts['lint:layers'].split(/\s+/);
    expect(bin).toBe('depcruise');
    const r = spawnSync(process.execPath, [DEPCRUISE, ...args, '--no-progress'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 50_000,
    });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('layer rules (npm run lint)', () => {
  it('npm run lint runs the layer check', () => {
    expect(scripts.lint).toContain('npm run lint:layers');
  });

  it('passes a tree of allowed imports', () => {
    const r = lintLayers(CLEAN);
    expect(r.output).toContain('no dependency violations found');
    expect(r.status).toBe(0);
  });

  it('fails on each forbidden import, under its rule', () => {
    const tree: Tree = { ...CLEAN, ...CYCLE };
    for (const [file, , text] of FORBIDDEN) tree[file] = text;
    const r = lintLayers(tree);
    expect(r.status).not.toBe(0);
    for (const [file, rule] of FORBIDDEN) expect(r.output).toContain(`error ${rule}: ${file}`);
    // Nothing else: the allowed imports stay quiet.
    const errors = r.output.split('\n').filter((l) => /^\s*error /.test(l));
    expect(r.output).toMatch(/error no-circular: src\/federation\/cycle-[ab]\.ts/);
    expect(errors).toHaveLength(FORBIDDEN.length + 1);
  });
});
