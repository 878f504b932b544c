/**
 * The layer rules of docs/architecture.md ("The layers"), checked by
 * `npm run lint`: data walks one way, HTTP → protocol core → store →
 * Asterisk, and the shared contracts (src/core, src/config) import no
 * feature. Type-only imports count (tsPreCompilationDeps): a type cycle
 * ties layers together as firmly as a call does.
 *
 * A rule that is not true yet is listed with its current violations in
 * .dependency-cruiser-known-violations.json (run with --ignore-known): those
 * pass, any new one fails. Regenerate the file only when removing entries:
 *   npx depcruise src --config .dependency-cruiser.cjs --output-type baseline \
 *     > .dependency-cruiser-known-violations.json
 */
const FEATURES = '^src/(federation|asterisk|http|cli|doctor)/';
const EXPRESS = '^node_modules/(@types/)?express/';
const TYPEORM = '^node_modules/typeorm/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import cycles (type-only ones too) hide which layer owns what.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'config-is-a-leaf',
      severity: 'error',
      comment: 'src/config reads and validates configuration; it imports nothing else from src.',
      from: { path: '^src/config/' },
      to: { path: '^src/', pathNot: '^src/config/' },
    },
    {
      name: 'core-imports-no-feature',
      severity: 'error',
      comment: 'src/core holds the contracts between layers; a feature depends on it, never the reverse.',
      from: { path: '^src/core/' },
      to: { path: [FEATURES, '^src/app\\.ts$'] },
    },
    {
      name: 'store-imports-no-feature',
      severity: 'error',
      comment: 'src/store opens the database and defines its tables; the layers above use it.',
      from: { path: '^src/store/' },
      to: { path: [FEATURES, '^src/app\\.ts$'] },
    },
    {
      name: 'federation-knows-no-http-nor-asterisk',
      severity: 'error',
      comment:
        'The protocol core returns outcomes; its HTTP routes are src/http/federation. It reaches Asterisk only through AsteriskPort (src/core).',
      from: { path: '^src/federation/' },
      to: { path: ['^src/(http|asterisk|doctor)/', EXPRESS] },
    },
    {
      name: 'federation-knows-no-typeorm',
      severity: 'error',
      comment:
        'The protocol core works on its store interfaces (src/federation/ports); their TypeORM implementations are src/store/typeorm, chosen by the composition.',
      from: { path: '^src/federation/' },
      to: { path: TYPEORM },
    },
    {
      name: 'core-and-protocol-know-no-store',
      severity: 'error',
      comment:
        'src/core and the protocol core speak plain records (src/core/records.ts) through ports; src/store implements them, the composition hands them in. Neither imports src/store (entities, pools, stores).',
      from: { path: '^src/(core|federation)/' },
      to: { path: '^src/store/' },
    },
    {
      name: 'federation-routes-query-no-tables',
      severity: 'error',
      comment:
        'The federation routes map requests and outcomes; what they look up they ask of the protocol core (PeeringRecords, ...).',
      from: { path: '^src/http/federation/' },
      to: { path: ['^src/store/', TYPEORM] },
    },
    {
      name: 'http-reads-only-its-own-tables',
      severity: 'error',
      comment:
        "The HTTP layer reads other layers' facts through their ports (FederationAdmin, AsteriskPort, StateGaugeSource, ...). It owns three tables, each with one module: admin_users (admin-users.ts), api_tokens (api-tokens.ts), audit_events (audit-trail.ts); nothing else in src/http imports the entities.",
      from: { path: '^src/http/', pathNot: '^src/http/admin/(admin-users|api-tokens|audit-trail)\\.ts$' },
      to: { path: '^src/store/entities\\.ts$' },
    },
    {
      name: 'asterisk-knows-no-protocol-nor-http',
      severity: 'error',
      comment:
        'The Asterisk layer gets what it needs through its port (src/core), not from the protocol or HTTP.',
      from: { path: '^src/asterisk/' },
      to: { path: ['^src/(federation|http|doctor)/', EXPRESS] },
    },
    {
      name: 'doctor-knows-no-http',
      severity: 'error',
      comment:
        'src/doctor runs the checks and returns results; the admin API, the panel and the CLI (through the API) show them.',
      from: { path: '^src/doctor/' },
      to: { path: ['^src/(http|cli)/', EXPRESS] },
    },
    {
      name: 'asterisk-gets-peers-from-its-port',
      severity: 'error',
      comment:
        "The Asterisk layer reads and writes peer rows through AsteriskPeerRows (src/core/asterisk-peers.ts), handed in by the composition; it does not build the store that opens the protocol's tables.",
      from: { path: '^src/asterisk/' },
      to: { path: '^src/store/(peer-rows|typeorm/)' },
    },
    {
      name: 'only-roots-import-app',
      severity: 'error',
      comment:
        'src/app.ts is the composition root: main and the CLI build the sidecar with it; features take shared types from src/core/feature.ts.',
      from: { path: '^src/', pathNot: '^src/(main\\.ts|cli/|app\\.ts$)' },
      to: { path: '^src/app\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['main', 'types', 'typings'],
    },
  },
};
