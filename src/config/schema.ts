import { z } from 'zod';
import { DEFAULT_EMERGENCY_NUMBERS, emergencyNumberSchema, numberRuleSchema } from './number-rules';
import { compileTrustProxy } from './trust-proxy';
import { CONFIG_VALKEY_URL, valkeyUrlProblem } from './valkey-url';

/**
 * The sidecar's whole configuration, validated once at start. Every field is
 * documented here and in README.md (Configuration). Environment variables
 * (UURU_*) override config/*.json; see env-map.ts for the mapping.
 */

const listen = z.strictObject({
  host: z.string().min(1),
  port: z.number().int().min(0).max(65535),
});

/**
 * Where a MySQL/MariaDB database is (ours, Asterisk's realtime one, µURU's):
 * host and port, or socketPath (a unix socket) instead of them.
 */
function mysqlConnection(defaults: { user: string; database: string }) {
  return {
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(1).max(65535).default(3306),
    user: z.string().default(defaults.user),
    password: z.string().default(''),
    database: z.string().default(defaults.database),
    socketPath: z.string().optional(),
  };
}

export const CODECS = ['g722', 'alaw', 'ulaw', 'g726', 'gsm', 'lpc10'] as const;
export type Codec = (typeof CODECS)[number];

export const configSchema = z
  .strictObject({
    /** Folder for the SQLite file, generated state and caches. */
    dataDir: z.string().min(1).default('./data'),
    instance: z
      .strictObject({
        /** UURU_FEDERATION_UURU_HOST: our public web address with protocol (and port). */
        publicUrl: z.url().default('http://localhost:8090'),
        /** UURU_FEDERATION_IAX2_HOST: the address partners reach our Asterisk's IAX2 at. */
        iax2Host: z.string().min(1).default('127.0.0.1'),
        /** UURU_FEDERATION_IAX2_PORT */
        iax2Port: z.number().int().min(1).max(65535).default(4569),
        /** UURU_EXTENSION_DIGITS: length of local extensions. */
        extensionDigits: z.number().int().min(1).max(12).default(4),
        /**
         * UURU_RESERVED_EXTENSIONS: local numbers that are never federated. Our comma
         * form ("555", "9*" = every number starting with 9) or µURU's JSON list of
         * numbers and [from, to] ranges (compared as numbers, as µURU does).
         */
        reservedExtensions: z.array(numberRuleSchema).default([]),
        /**
         * UURU_EMERGENCY_NUMBERS: never reachable from partners; in a longer plan
         * every local number starting with one is blocked (docs/asterisk.md).
         */
        emergencyNumbers: z
          .array(emergencyNumberSchema)
          .max(100)
          .default([...DEFAULT_EMERGENCY_NUMBERS]),
        /** UURU_FEDERATION_CODECS: codecs we offer. */
        codecs: z.array(z.enum(CODECS)).min(1).default(['g722', 'alaw', 'ulaw']),
      })
      .prefault({}),
    http: z
      .strictObject({
        /** UURU_HTTP_LISTEN: public federation endpoints (host:port). */
        federation: listen.default({ host: '0.0.0.0', port: 8090 }),
        /** UURU_ADMIN_LISTEN: admin API, panel, metrics; "same" serves them on the federation listener. */
        admin: z.union([listen, z.literal('same')]).default({ host: '127.0.0.1', port: 8091 }),
        /**
         * UURU_HTTP_TRUST_PROXY: the reverse proxies whose X-Forwarded-For is
         * believed (src/core/client-address.ts): false, a hop count, or
         * addresses / CIDRs / loopback, linklocal, uniquelocal (a list or a
         * comma-separated string). true is read as loopback, never "everyone".
         */
        trustProxy: z
          .union([z.boolean(), z.number().int().min(0).max(64), z.string(), z.array(z.string())])
          .default(false)
          .superRefine((value, ctx) => {
            try {
              compileTrustProxy(value);
            } catch (e) {
              ctx.addIssue({
                code: 'custom',
                message: `expected false, a hop count, or proxy addresses/CIDRs (loopback, linklocal, uniquelocal): ${(e as Error).message}`,
              });
            }
          }),
        /** Largest request body accepted, bytes. */
        bodyLimitBytes: z
          .number()
          .int()
          .min(1024)
          .max(10 * 1024 * 1024)
          .default(64 * 1024),
      })
      .prefault({}),
    database: z
      .strictObject({
        /** UURU_DATABASE_TYPE: sqlite (embedded default), mysql or mariadb. */
        type: z.enum(['sqlite', 'mysql', 'mariadb']).default('sqlite'),
        /** UURU_DATABASE_SQLITE_PATH: defaults to <dataDir>/uuru-federation.sqlite */
        sqlitePath: z.string().optional(),
        /** UURU_DATABASE_SERVER, _PORT, _USER, _PASSWORD, _DB; UURU_DATABASE_SOCKET: unix socket instead of host/port. */
        ...mysqlConnection({ user: 'uuru', database: 'uuru_federation' }),
      })
      .prefault({}),
    asterisk: z
      .strictObject({
        /** Set false to run without Asterisk (protocol only); apply states stay pending. */
        enabled: z.boolean().default(true),
        ami: z
          .strictObject({
            /**
             * UURU_ASTERISK_AMI_ADDR (µURU's name): the AMI host. Was asterisk.host and
             * UURU_ASTERISK_HOST, which are still read for this release (load-config.ts).
             */
            host: z.string().min(1).default('127.0.0.1'),
            /** UURU_ASTERISK_AMI_PORT, or µURU's UURU_ASTERSIK_AMI_PORT. */
            port: z.number().int().min(1).max(65535).default(5038),
            user: z.string().default('uuru-federation'),
            password: z.string().default(''),
            /** Per-action timeout, ms. */
            actionTimeoutMs: z.number().int().min(100).default(10000),
          })
          .prefault({}),
        ari: z
          .strictObject({
            /** UURU_ASTERISK_ARI_URL, e.g. http://127.0.0.1:8088 */
            url: z.string().default('http://127.0.0.1:8088'),
            user: z.string().default('uuru-federation'),
            password: z.string().default(''),
            app: z
              .string()
              .regex(/^[A-Za-z0-9_-]+$/)
              .default('uuru-federation'),
          })
          .prefault({}),
        /** UURU_ASTERISK_STATE_BACKEND: files (static config, monitored) or realtime (DB rows, not monitorable). */
        stateBackend: z.enum(['files', 'realtime']).default('files'),
        /** UURU_ASTERISK_CONFIG_DIR: where the generated iax/extensions files are written. */
        configDir: z.string().default('/etc/asterisk'),
        /** Dial plan context local phones dial from; outbound prefix entries go into <localContext>-federation (include it). */
        localContext: z
          .string()
          .regex(/^[A-Za-z0-9_-]+$/)
          .default('uuru-local'),
        /** Context incoming federation calls are sent to after the per-peer filter. */
        inboundTargetContext: z
          .string()
          .regex(/^[A-Za-z0-9_-]+$/)
          .default('uuru-local'),
        /** Extension that answers test calls with Echo(). */
        testExtension: z
          .string()
          .regex(/^[0-9]{1,12}$/)
          .default('9999999'),
        /** Concurrent calls allowed per peer (maxcallnumbers). */
        maxCallsPerPeer: z.number().int().min(1).max(10000).default(32),
        qualifyFreqOkMs: z.number().int().min(500).default(60000),
        qualifyFreqNotOkMs: z.number().int().min(500).default(10000),
        /** Coalescing window for reloads, ms. */
        reloadDebounceMs: z.number().int().min(0).max(10000).default(200),
        /**
         * Files backend: watch the generated files (inotify) and repair a hand
         * edit at once; off (e.g. a config folder on a file system without
         * inotify), hand edits wait for the scheduled reconcile. Read at each change.
         */
        watchGeneratedFiles: z.boolean().default(true),
        /**
         * Quality probes (docs/asterisk.md, "Call quality"): a short call to each
         * reachable trunk without a call up (Milliwatt here, the partner's echo
         * at testExtension there), one trunk after the other, every intervalMs;
         * durationMs should be longer than iax.conf's pingtime (21 s by default),
         * or the round trip and the partner's report come too late.
         */
        qualityProbe: z
          .strictObject({
            enabled: z.boolean().default(true),
            intervalMs: z.number().int().min(10_000).default(3_600_000),
            durationMs: z.number().int().min(1000).max(300_000).default(30_000),
          })
          .prefault({}),
        /** Realtime database (UURU_ASTERISK_DATABASE_*). */
        realtimeDb: z.strictObject(mysqlConnection({ user: 'asterisk', database: 'asterisk' })).prefault({}),
      })
      .prefault({}),
    federation: z
      .strictObject({
        /** Initial policy mode; afterwards policy lives in the DB and is changed by admins. */
        policyMode: z.enum(['open', 'invite_only', 'closed']).default('open'),
        allowLegacy: z.boolean().default(true),
        /** UURU_KEY_ENCRYPTION_SECRET: encrypts private keys at rest when set. */
        keyEncryptionSecret: z.string().min(16).optional(),
        /** Outgoing HTTP timeout to partners, ms. */
        httpTimeoutMs: z.number().int().min(100).default(10000),
        /**
         * Requests per client IP per minute on every federation and legacy endpoint (checked before any
         * crypto): a steady rate, of which two seconds' worth (at least 120, at most all) may come at once.
         */
        rateLimitPerIpPerMinute: z.number().int().min(1).default(120),
        /** Signed calls per partner (server name) per minute. */
        rateLimitPerOriginPerMinute: z.number().int().min(1).default(120),
        /** New peering requests per origin per hour in open mode. */
        unsolicitedRequestsPerOriginPerHour: z.number().int().min(1).default(5),
        /** Outbox retry: first delay, ms (doubled each attempt, with jitter). */
        outboxRetryBaseMs: z.number().int().min(10).default(5000),
        /**
         * Outbox retry: longest delay between attempts to a partner, ms (the cap; 1 h). A partner that is
         * merely unreachable is retried at this interval for as long as it takes: there is no give-up age.
         */
        outboxRetryMaxMs: z.number().int().min(10).default(3600000),
        /**
         * A partner whose calls failed (no answer, 408, 429, 5xx) on this many distinct UTC days without
         * answering in between is marked suspended (its trunks stay; it resumes by itself when it answers).
         */
        partnerSuspendAfterDays: z.number().int().min(1).max(365).default(7),
        /**
         * Publish our peers' server names and states in our uuru-fed/2 descriptor (`peer_map`), so partners'
         * federation maps can draw them as a second ring. Off by default: who we peer with is ours to tell.
         */
        publishPeerMap: z.boolean().default(false),
        /**
         * Trunk secret epochs (v2): the epoch length we propose to partners in a peering request and publish
         * in the descriptor, seconds (default 30 days). The requester's proposal is what both sides keep.
         */
        secretEpochSeconds: z.number().int().min(60).max(316_224_000).default(2_592_000),
        /**
         * Trunk secret epochs: how long before and after an epoch boundary both the old and the new secret
         * are accepted, seconds (default 24 h; at most a third of the epoch is used). The two sides' clocks
         * may differ by up to this, less a margin for applying the change to Asterisk.
         */
        secretOverlapSeconds: z.number().int().min(1).default(86_400),
        /**
         * UURU_FEDERATION_V2: whether this sidecar speaks uuru-fed/2 (publishes its descriptor, answers the
         * signed calls, upgrades v1 peerings). Off, it is a v1-only instance as stock µURU is; turning it on
         * later upgrades its v1 peerings with sidecar partners (docs/protocol.md, "Upgrading a v1 peering").
         */
        v2Enabled: z.boolean().default(true),
        /**
         * v1 → v2 upgrade: how far after the agreement the sent trunk secret switches from the v1 one to the
         * v2 one, seconds (both sides accept both from the agreement on; the v1 one until the switch plus
         * secretOverlapSeconds).
         */
        upgradeSwitchDelaySeconds: z.number().int().min(1).max(86_400).default(300),
      })
      .prefault({}),
    admin: z
      .strictObject({
        /** UURU_ADMIN_BOOTSTRAP_TOKEN: an API token accepted in addition to the DB's (for first set-up and tests). */
        bootstrapToken: z.string().min(24).optional(),
        /** Cookie Secure flag: auto (when publicUrl is https), true, false. */
        secureCookies: z.enum(['auto', 'true', 'false']).default('auto'),
        /** UURU_ADMIN_AUDIT_RETENTION_DAYS: audit trail events older than this are deleted (daily job). */
        auditRetentionDays: z.number().int().min(1).max(36_500).default(365),
      })
      .prefault({}),
    cli: z
      .strictObject({
        /** UURU_ADMIN_URL: the running instance's admin listener the uuru-fed CLI talks to; defaults to http.admin. */
        adminUrl: z.url().optional(),
        /** UURU_ADMIN_TOKEN: API token the CLI sends; defaults to admin.bootstrapToken. */
        adminToken: z.string().min(1).optional(),
      })
      .prefault({}),
    phonebook: z
      .strictObject({
        /** UURU_PHONEBOOK_FILE: a JSON or CSV file with the public directory. */
        file: z.string().optional(),
        /**
         * UURU_PHONEBOOK_DATABASE_*: a µURU application database (MariaDB/MySQL or PostgreSQL) whose `extension` table,
         * rows with public set, is the public directory (merged with the file when both are set).
         */
        uuruDatabase: z
          .strictObject({
            /**
             * UURU_PHONEBOOK_DATABASE_TYPE: the engine of µURU's application database, mysql (MariaDB/MySQL)
             * or postgres (µURU's default; then set the port too, usually 5432).
             */
            type: z.enum(['mysql', 'postgres']).default('mysql'),
            ...mysqlConnection({ user: 'uuru', database: 'uuru' }),
          })
          .optional(),
        /** How long a partner's fetched phonebook is kept before it is fetched again, seconds. */
        partnerCacheSeconds: z.number().int().min(10).max(86400).default(300),
      })
      .prefault({}),
    jobs: z
      .strictObject({
        reconcileCron: z.string().default('*/5 * * * *'),
        antiEntropyCron: z.string().default('*/10 * * * *'),
        keyRotationCron: z.string().default('17 3 * * *'),
        monitorPollMs: z.number().int().min(200).default(5000),
        /** Call quality and active calls per trunk: one channel list and `iax2 show netstats` every so often. */
        trunkQualityPollMs: z.number().int().min(200).default(10_000),
        outboxPollMs: z.number().int().min(50).default(2000),
        /** How often the trunk secret epoch job looks whether a peer's secrets change (overlap start/end, rotation). */
        secretEpochPollMs: z.number().int().min(50).default(60_000),
        /** How often v1 peers' partners are checked for a uuru-fed/2 descriptor (the v1 → v2 upgrade), ms. */
        v1UpgradePollMs: z.number().int().min(50).default(600_000),
      })
      .prefault({}),
    /**
     * Replicas (docs/operations.md, "Running more than one replica"). UURU_HA_ENABLED: more than one sidecar
     * shares this database (MariaDB or a Galera cluster): sessions, login throttles and rate limits live in
     * the database instead of this process's memory, each scheduled job takes a lease per period and the
     * delivery worker claims outbox items. Off (the default): one process, all of that in memory.
     */
    ha: z
      .strictObject({
        enabled: z.boolean().default(false),
        /** UURU_HA_REPLICA_ID: this replica's name in leases and claims; default: host name and process id. */
        replicaId: z.string().min(1).max(100).optional(),
        /** How long an outbox claim holds before another replica may take the item over, ms. */
        claimMs: z.number().int().min(1000).default(60_000),
        /**
         * UURU_HA_ASTERISK_NODE: the name of the Asterisk this replica is bound to (it applies peers to that
         * Asterisk only and records their apply state under this name); default: the AMI address host:port.
         * Replicas sharing one Asterisk give the same name.
         */
        asteriskNode: z.string().min(1).max(100).optional(),
        /** How often a replica writes its row in `replicas` (the status views), ms; a replica is live for 3 beats. */
        heartbeatMs: z.number().int().min(100).default(5000),
        /**
         * How often a replica looks whether another replica changed the peers (their count and latest change),
         * and then reconciles its own Asterisk at once instead of at the next scheduled reconcile, ms.
         */
        peerWatchMs: z.number().int().min(100).default(2000),
        /**
         * A replica not seen for this long (killed, or gone for good) loses its row in `replicas` and the
         * leases it held (the `replica-purge` job, on one replica), ms; at least six heartbeats. Default a day.
         */
        replicaPurgeMs: z.number().int().min(1000).default(86_400_000),
        /**
         * UURU_HA_VALKEY_URL: a Valkey (or Redis) server the replicas share for admin sessions, login
         * throttles and the shared rate limits instead of the database (docs/operations.md, "Valkey for
         * sessions and rate limits"): redis://[[user]:password@]host[:port][/db], rediss:// for TLS.
         * Unset (the default): all of that in the database.
         */
        valkeyUrl: z
          .string()
          .optional()
          .superRefine((value, ctx) => {
            const problem = value === undefined ? null : valkeyUrlProblem(value);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          }),
      })
      .prefault({}),
    notify: z
      .strictObject({
        /**
         * UURU_NOTIFY_WEBHOOK_URL: where changes (trunk down/up, partner errors, a partner key nearing
         * expiry, an outbox item stuck) are POSTed as JSON (docs/operations.md, Notifications); unset:
         * they are only logged.
         */
        webhookUrl: z.url().optional(),
        /** UURU_NOTIFY_WEBHOOK_SECRET: the HMAC-SHA256 key the posts are signed with (16+ characters; required with the URL). */
        webhookSecret: z.string().min(16).optional(),
        /** One post's time-out, ms. */
        webhookTimeoutMs: z.number().int().min(100).default(5000),
        /** Retries: first delay, ms (doubled each attempt, drawn in [d/2, d]). */
        retryBaseMs: z.number().int().min(10).default(1000),
        /** Retries: longest delay between attempts, ms. */
        retryMaxMs: z.number().int().min(10).default(300000),
        /** Attempts per notification before it counts as failed (with the defaults about an hour). */
        maxAttempts: z.number().int().min(1).max(1000).default(20),
        /** Notifications waiting at most; when full the oldest is dropped (counted). */
        queueSize: z.number().int().min(1).max(100000).default(1000),
        /** Consecutive monitor polls that find a trunk unreachable before it counts as down. */
        trunkDownAfterPolls: z.number().int().min(1).max(1000).default(3),
        /** Consecutive polls that find a down trunk reachable before it counts as up again. */
        trunkUpAfterPolls: z.number().int().min(1).max(1000).default(2),
        /** A partner key counts as nearing expiry this many days before its last trusted signing key expires. */
        partnerKeyExpiryWarnDays: z.number().min(0).max(3650).default(14),
        /** An outbox notification undelivered for this many minutes counts as stuck. */
        outboxStuckMinutes: z.number().min(0.001).default(60),
        /** How often partner errors, partner keys and the outbox are checked, ms. */
        checkIntervalMs: z.number().int().min(100).default(60000),
      })
      .refine((n) => n.webhookUrl === undefined || n.webhookSecret !== undefined, {
        message: 'a webhook URL needs a signing secret (UURU_NOTIFY_WEBHOOK_SECRET, 16+ characters)',
        path: ['webhookSecret'],
      })
      .prefault({}),
    log: z
      .strictObject({
        /** UURU_LOGLEVEL (µURU's INFO, WARNING etc. are mapped in load-config.ts). */
        level: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
        /** UURU_LOG_FORMAT: json (production) or pretty. */
        format: z.enum(['json', 'pretty']).default('pretty'),
      })
      .prefault({}),
  })
  // Replicas share their state through the database; an SQLite file is one process's, so HA on it is a mistake.
  // Valkey holds what replicas share; one process keeps it in memory.
  .refine((c) => c.ha.valkeyUrl === undefined || c.ha.enabled, {
    path: ['ha', 'valkeyUrl'],
    message: `${CONFIG_VALKEY_URL}: a Valkey server is shared state of replicas: set UURU_HA_ENABLED=true as well, or unset UURU_HA_VALKEY_URL`,
  })
  .refine((c) => !c.ha.enabled || c.database.type !== 'sqlite', {
    path: ['ha', 'enabled'],
    message:
      'HA needs a shared MariaDB/MySQL database: set UURU_DATABASE_TYPE=mariadb (or mysql) with UURU_DATABASE_SERVER, or unset UURU_HA_ENABLED',
  });

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
