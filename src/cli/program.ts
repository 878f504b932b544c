import { Command, CommanderError, Option } from 'commander';
import { ConfigError, loadConfig } from '../config/load-config';
import { CODECS, type Config } from '../config/schema';
import type {
  DeliveryView,
  IncomingRequestView,
  KeyView,
  OutgoingRequestView,
  PartnerPhonebookView,
  PeerView,
  Policy,
  PolicyChangeReport,
  RetryDeliveriesReport,
} from '../core/federation-admin';
import { errorMessage } from '../core/errors';
import { type AdminApiClient, clientFor } from './admin-api-client';
import { createAdmin, createToken, readPassword } from './database-commands';
import { registerDoctorCommand } from './doctor-command';
import { CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes';
import { textTable } from './text-table';

/** POST /reconcile as the admin API answers it. */
interface ReconcileResponse {
  ok: boolean;
  result: 'done' | 'not_run' | 'disabled';
  changes: { action: string; object: string }[];
  reloaded: string[];
  verified: string[];
  failed: { name: string; error: string }[];
  problems: string[];
  error: string | null;
  asterisk: { ami: string; ari: string };
}

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
}

interface GlobalOptions {
  url?: string;
  token?: string;
}

const EXIT_CODES_HELP = `
Exit codes:
  0  done (test-call: the call was answered)
  1  refused or failed (server error, unreachable instance, unanswered test call,
     a reconcile that could not run or left peers unverified, a partner's
     phonebook that could not be read, deliveries still waiting after outbox retry)
  2  usage or configuration error (bad arguments, invalid config, no token)

admin create and token create work on the configured database directly
(UURU_DATABASE_* and the config file, as the sidecar reads them). Every other
command talks to a running instance's admin API: --url or UURU_ADMIN_URL
(default: the configured admin listener) and --token or UURU_ADMIN_TOKEN.`;

/** Comma list; only spaces around entries go: a tab or newline stays in the entry and the API refuses it. */
const splitList = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.replace(/^ +| +$/g, ''))
    .filter((s) => s.length > 0);

export function buildProgram(io: CliIo, state: { exitCode: number }): Command {
  let config: Config | null = null;
  const getConfig = (): Config => {
    if (config) return config;
    try {
      config = loadConfig();
      return config;
    } catch (e) {
      if (e instanceof ConfigError)
        throw new CliError(`invalid configuration:\n${e.problems.join('\n')}`, EXIT_USAGE);
      throw e;
    }
  };
  const out = (s: string): void => {
    io.stdout.write(s);
  };
  const json = (v: unknown): void => {
    out(JSON.stringify(v, null, 2) + '\n');
  };

  const program = new Command('uuru-fed');
  program
    .description('Administer a uuru-federation sidecar: peers, requests, policy, keys.')
    .option('--url <url>', 'admin API address of the running instance (env UURU_ADMIN_URL)')
    .option('--token <token>', 'API token (env UURU_ADMIN_TOKEN)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP);

  const api = (cmd: Command): AdminApiClient => clientFor(getConfig(), cmd.optsWithGlobals<GlobalOptions>());
  const jsonOption = () => new Option('--json', 'print JSON for scripts');

  // ---- database-direct commands
  const admin = program
    .command('admin')
    .description('admin accounts for the web panel (works on the database directly)');
  admin
    .command('create <username>')
    .description(
      'create a panel admin; the password is read from standard input (prompted without echo on a terminal)',
    )
    .option('--replace', 'set a new password if the admin exists')
    .addOption(jsonOption())
    .action(async (username: string, opts: { replace?: boolean; json?: boolean }) => {
      const cfg = getConfig();
      const password = await readPassword(io.stdin, io.stderr);
      const r = await createAdmin(cfg, { username, password, replace: opts.replace ?? false });
      if (opts.json) json(r);
      else out(`admin '${r.username}' ${r.created ? 'created' : 'password replaced'}\n`);
    });

  const token = program.command('token').description('API tokens (works on the database directly)');
  token
    .command('create <name>')
    .description('create an API token; it is printed once and only its hash is stored')
    .addOption(jsonOption())
    .action(async (name: string, opts: { json?: boolean }) => {
      const r = await createToken(getConfig(), name);
      if (opts.json) json(r);
      else out(`${r.token}\n`);
      if (!opts.json) io.stderr.write(`token '${r.name}' created; store it now, it is not shown again\n`);
    });

  // ---- keys
  const key = program.command('key').description('our signing and agreement keys');
  const printKeys = (keys: KeyView[]) =>
    out(
      textTable(
        ['KID', 'ALG', 'STATUS', 'FINGERPRINT', 'EXPIRES'],
        keys.map((k) => [k.kid, k.alg, k.status, k.fingerprint, k.expires_at]),
      ),
    );
  key
    .command('show')
    .description('list our keys with their fingerprints')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const r = await api(cmd).request<{ keys: KeyView[] }>('GET', '/federation/keys');
      if (opts.json) json(r);
      else printKeys(r.keys);
    });
  key
    .command('rotate')
    .description('start a key rotation')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const r = await api(cmd).request<{ keys: KeyView[] }>('POST', '/federation/keys/rotate', {});
      if (opts.json) json(r);
      else printKeys(r.keys);
    });

  // ---- peers
  const peers = program.command('peers').description('peers (live trunks)');
  peers
    .command('list')
    .description('list peers with their trunk state')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const r = await api(cmd).request<{ peers: PeerView[] }>('GET', '/federation/peers');
      if (opts.json) return json(r);
      out(
        textTable(
          [
            'ID',
            'NAME',
            'PREFIX',
            'PARTNER',
            'DIALECT',
            'STATE',
            'APPLY',
            'REACHABILITY',
            'LATENCY',
            'LAST SEEN',
            // The trunk's last problem (Asterisk) and the partner's (protocol): each has its own writer.
            'LINK ERROR',
            'PARTNER ERROR',
          ],
          r.peers.map((p) => [
            p.id,
            // A Unicode v1 name with the ASCII name Asterisk's dial plan knows it by (also accepted as <peer>).
            p.asterisk_name === p.name ? p.name : `${p.name} (${p.asterisk_name})`,
            p.prefix,
            p.partner_url,
            p.dialect,
            p.state,
            p.apply_state,
            p.reachability,
            p.latency_ms === null ? null : `${p.latency_ms} ms`,
            p.last_seen,
            p.link_error,
            p.partner_error,
          ]),
        ),
      );
    });

  const resolvePeer = async (client: AdminApiClient, ref: string): Promise<PeerView> => {
    const r = await client.request<{ peers: PeerView[] }>('GET', '/federation/peers');
    const found =
      r.peers.find((p) => p.id === ref) ??
      r.peers.find((p) => p.name === ref) ??
      r.peers.find((p) => p.asterisk_name === ref);
    if (!found)
      throw new CliError(
        `FED_UNKNOWN_PEER: no peer with id or name '${ref}' (see "uuru-fed peers list")`,
        EXIT_FAILED,
        'FED_UNKNOWN_PEER',
      );
    return found;
  };

  const peer = program.command('peer').description('act on one peer');
  peer
    .command('teardown <peer>')
    .description('tear a peer down (by id or name) and tell the partner')
    .option('--local-only', "remove only our side (the partner is gone); don't notify it")
    .addOption(jsonOption())
    .action(async (ref: string, opts: { localOnly?: boolean; json?: boolean }, cmd: Command) => {
      const client = api(cmd);
      const p = await resolvePeer(client, ref);
      await client.request(
        'DELETE',
        `/federation/peers/${encodeURIComponent(p.id)}${opts.localOnly ? '?local_only=true' : ''}`,
      );
      if (opts.json) json({ id: p.id, name: p.name, torn_down: true, local_only: opts.localOnly ?? false });
      else out(`peer '${p.name}' torn down${opts.localOnly ? ' (local side only)' : ''}\n`);
    });

  program
    .command('test-call <peer>')
    .description(
      "call the partner's test extension through a peer (by id or name); exit 0 only when answered",
    )
    .addOption(jsonOption())
    .action(async (ref: string, opts: { json?: boolean }, cmd: Command) => {
      const client = api(cmd);
      const p = await resolvePeer(client, ref);
      const r = await client.request<{ answered: boolean; setup_ms: number | null; error: string | null }>(
        'POST',
        `/federation/peers/${encodeURIComponent(p.id)}/test-call`,
        {},
      );
      if (opts.json) json({ peer: p.name, ...r });
      else out(r.answered ? `answered in ${r.setup_ms} ms\n` : `not answered: ${r.error ?? 'no answer'}\n`);
      if (!r.answered) state.exitCode = EXIT_FAILED;
    });

  // ---- requests
  const requests = program.command('requests').description('peering requests, outgoing and incoming');
  requests
    .command('list')
    .description('list outgoing and incoming requests')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const client = api(cmd);
      const [o, i] = await Promise.all([
        client.request<{ requests: OutgoingRequestView[] }>('GET', '/federation/outgoing-requests'),
        client.request<{ requests: IncomingRequestView[] }>('GET', '/federation/incoming-requests'),
      ]);
      if (opts.json) return json({ outgoing: o.requests, incoming: i.requests });
      out('Outgoing:\n');
      out(
        textTable(
          ['ID', 'NAME', 'PARTNER', 'PREFIX', 'CODEC', 'DIALECT', 'STATE', 'WHY'],
          o.requests.map((r) => [
            r.id,
            r.name,
            r.partner_url,
            r.prefix,
            r.codec,
            r.dialect,
            r.state,
            r.decline_reason ?? r.last_error,
          ]),
        ),
      );
      out('\nIncoming:\n');
      out(
        textTable(
          ['ID', 'NAME', 'PARTNER', 'CODEC', 'DIALECT', 'STATE', 'PARTNER KEY'],
          i.requests.map((r) => [
            r.id,
            r.name,
            r.partner_url,
            r.codec,
            r.dialect,
            r.state,
            r.partner_key_fingerprint,
          ]),
        ),
      );
    });
  requests
    .command('create')
    .description('ask a partner instance to peer')
    .requiredOption('--name <name>', 'peering name, shared by both sides ([A-Za-z0-9_]{1,32})')
    .requiredOption('--partner-url <url>', "partner's web address, e.g. https://pbx.example.org")
    .requiredOption('--prefix <digits>', 'our dial prefix for the partner')
    .addOption(new Option('--codec <codec>', 'codec').choices([...CODECS]).makeOptionMandatory())
    .addOption(new Option('--dialect <dialect>', 'protocol').choices(['auto', 'v2', 'v1']).default('auto'))
    .addOption(jsonOption())
    .action(
      async (
        opts: {
          name: string;
          partnerUrl: string;
          prefix: string;
          codec: string;
          dialect: string;
          json?: boolean;
        },
        cmd: Command,
      ) => {
        const r = await api(cmd).request<OutgoingRequestView>('POST', '/federation/outgoing-requests', {
          name: opts.name,
          partner_url: opts.partnerUrl,
          prefix: opts.prefix,
          codec: opts.codec,
          dialect: opts.dialect,
        });
        if (opts.json) return json(r);
        out(`request ${r.id} '${r.name}' ${r.state} (${r.dialect})\n`);
        if (r.dialect === 'v1')
          io.stderr.write('note: legacy v1 peering; the IAX2 secret travels in clear\n');
      },
    );
  requests
    .command('accept <id>')
    .description('accept an incoming request')
    .requiredOption('--prefix <digits>', 'our dial prefix for the partner')
    .option('--local-only', "don't tell the partner (it is gone): only this side holds the peer")
    .addOption(jsonOption())
    .action(
      async (id: string, opts: { prefix: string; localOnly?: boolean; json?: boolean }, cmd: Command) => {
        const p = await api(cmd).request<PeerView>(
          'POST',
          `/federation/incoming-requests/${encodeURIComponent(id)}/accept`,
          {
            prefix: opts.prefix,
            ...(opts.localOnly ? { local_only: true } : {}),
          },
        );
        if (opts.json) return json(p);
        out(
          `accepted: peer '${p.name}' (${p.id}) with prefix ${p.prefix}${opts.localOnly ? ' (local side only)' : ''}\n`,
        );
      },
    );
  requests
    .command('decline <id>')
    .description('decline an incoming request')
    .option('--local-only', "don't tell the partner")
    .option('--reason <text>', 'reason given to the partner')
    .action(async (id: string, opts: { localOnly?: boolean; reason?: string }, cmd: Command) => {
      await api(cmd).request('POST', `/federation/incoming-requests/${encodeURIComponent(id)}/decline`, {
        ...(opts.localOnly ? { local_only: true } : {}),
        ...(opts.reason ? { reason: opts.reason } : {}),
      });
      out(`declined ${id}\n`);
    });
  requests
    .command('revoke <id>')
    .description('revoke an outgoing request')
    .option('--local-only', "don't tell the partner")
    .action(async (id: string, opts: { localOnly?: boolean }, cmd: Command) => {
      await api(cmd).request(
        'DELETE',
        `/federation/outgoing-requests/${encodeURIComponent(id)}${opts.localOnly ? '?local_only=true' : ''}`,
      );
      out(`revoked ${id}\n`);
    });

  // ---- policy
  const policy = program
    .command('policy')
    .description('who may ask to peer, and which numbers never federate');
  const printPolicy = (p: Policy) =>
    out(
      [
        `mode:                ${p.mode}`,
        `allowed peers:       ${p.allowed_peers.join(', ') || '-'}`,
        `blocked peers:       ${p.blocked_peers.join(', ') || '-'}`,
        `legacy v1:           ${p.allow_legacy ? 'on' : 'off'}`,
        `unfederated numbers: ${p.unfederated_numbers.join(', ') || '-'}`,
        '',
      ].join('\n'),
    );
  policy
    .command('show')
    .description('print the policy')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const p = await api(cmd).request<Policy>('GET', '/federation/policy');
      if (opts.json) json(p);
      else printPolicy(p);
    });
  policy
    .command('set')
    .description('change the policy; options not given keep their value')
    .addOption(new Option('--mode <mode>', 'who may ask').choices(['open', 'invite_only', 'closed']))
    .option('--allowed <list>', 'comma list of allowed instances (replaces the list; "" clears it)')
    .option('--blocked <list>', 'comma list of blocked instances (replaces the list; "" clears it)')
    .addOption(new Option('--legacy <on|off>', 'allow legacy v1 peerings').choices(['on', 'off']))
    .option('--unfederated <list>', 'comma list of numbers never federated, e.g. 110,112,9*')
    .addOption(jsonOption())
    .action(
      async (
        opts: {
          mode?: Policy['mode'];
          allowed?: string;
          blocked?: string;
          legacy?: 'on' | 'off';
          unfederated?: string;
          json?: boolean;
        },
        cmd: Command,
      ) => {
        const client = api(cmd);
        const current = await client.request<Policy>('GET', '/federation/policy');
        const next: Policy = {
          mode: opts.mode ?? current.mode,
          allowed_peers: opts.allowed === undefined ? current.allowed_peers : splitList(opts.allowed),
          blocked_peers: opts.blocked === undefined ? current.blocked_peers : splitList(opts.blocked),
          allow_legacy: opts.legacy === undefined ? current.allow_legacy : opts.legacy === 'on',
          unfederated_numbers:
            opts.unfederated === undefined ? current.unfederated_numbers : splitList(opts.unfederated),
        };
        const r = await client.request<PolicyChangeReport>('PUT', '/federation/policy', next);
        if (opts.json) return json(r);
        printPolicy(r.policy);
        for (const a of r.affected_peers)
          io.stderr.write(`warning: peer '${a.name}' would not be admitted now: ${a.reason}\n`);
      },
    );

  registerDoctorCommand(program, { api, out, json, state });

  program
    .command('reconcile')
    .description(
      'bring Asterisk in line with the database now and print what changed; exit 1 unless every peer verified',
    )
    .option(
      '--changed-only',
      'read back only what may have changed (quicker; misses dial plan edits made on the Asterisk CLI)',
    )
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean; changedOnly?: boolean }, cmd: Command) => {
      const r = await api(cmd).request<ReconcileResponse>(
        'POST',
        '/reconcile',
        opts.changedOnly ? { verify: 'changed' } : {},
      );
      if (r.result !== 'disabled' && !r.ok) state.exitCode = EXIT_FAILED;
      if (opts.json) return json(r);
      if (r.result === 'disabled') {
        out(`${r.error ?? 'Asterisk integration is disabled: there is nothing to reconcile'}\n`);
        return;
      }
      if (r.result === 'not_run') {
        io.stderr.write(`reconcile did not run: ${r.error ?? 'unknown reason'}\n`);
        return;
      }
      const reloads = r.reloaded.length ? `, reloaded ${r.reloaded.join(', ')}` : ', no reload';
      out(
        `reconciled: ${r.changes.length} change(s)${reloads}, ${r.verified.length} peer(s) verified (AMI ${r.asterisk.ami}, ARI ${r.asterisk.ari})\n`,
      );
      for (const c of r.changes) out(`  ${c.action.padEnd(6)} ${c.object}\n`);
      for (const f of r.failed) io.stderr.write(`not verified: ${f.name}: ${f.error}\n`);
      for (const p of r.problems) io.stderr.write(`problem: ${p}\n`);
    });

  program
    .command('phonebook')
    .description(
      "our partners' public numbers as a local phone dials them (our prefix + extension); exit 1 if a partner could not be read",
    )
    .option('--peer <peer>', 'only this peer (id or name)')
    .option('--refresh', 'fetch now instead of using the cached copy')
    .addOption(jsonOption())
    .action(async (opts: { peer?: string; refresh?: boolean; json?: boolean }, cmd: Command) => {
      const client = api(cmd);
      const query = opts.refresh ? '?refresh=true' : '';
      let books: PartnerPhonebookView[];
      if (opts.peer) {
        const p = await resolvePeer(client, opts.peer);
        books = [
          await client.request<PartnerPhonebookView>(
            'GET',
            `/federation/peers/${encodeURIComponent(p.id)}/phonebook${query}`,
          ),
        ];
      } else {
        books = (
          await client.request<{ phonebooks: PartnerPhonebookView[] }>('GET', `/federation/phonebook${query}`)
        ).phonebooks;
      }
      if (books.some((b) => b.error !== null)) state.exitCode = EXIT_FAILED;
      if (opts.json) return json(opts.peer ? books[0] : { phonebooks: books });
      out(
        textTable(
          ['DIAL', 'NAME', 'PARTNER', 'EXTENSION'],
          books.flatMap((b) => b.entries.map((e) => [e.dial, e.name, b.peer.name, e.extension])),
        ),
      );
      for (const b of books.filter((x) => x.error !== null))
        io.stderr.write(`partner '${b.peer.name}': ${b.error}\n`);
    });

  // ---- outbox
  const outbox = program.command('outbox').description('notifications to partners waiting for delivery');
  outbox
    .command('list')
    .description('list pending deliveries and the latest ones given up (never their bodies)')
    .addOption(new Option('--state <state>', 'only these').choices(['pending', 'failed']))
    .addOption(jsonOption())
    .action(async (opts: { state?: string; json?: boolean }, cmd: Command) => {
      const r = await api(cmd).request<{ deliveries: DeliveryView[] }>(
        'GET',
        `/federation/outbox${opts.state ? `?state=${opts.state}` : ''}`,
      );
      if (opts.json) return json(r);
      out(
        textTable(
          ['KIND', 'PARTNER', 'PEER', 'STATE', 'ATTEMPTS', 'NEXT ATTEMPT', 'LAST ERROR'],
          r.deliveries.map((d) => [
            d.kind,
            d.partner,
            d.peer_name,
            d.state,
            d.attempts,
            d.next_attempt_at,
            d.last_error,
          ]),
        ),
      );
    });
  outbox
    .command('retry')
    .description('try every pending delivery now; exit 1 if some are still waiting afterwards')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const r = await api(cmd).request<RetryDeliveriesReport>('POST', '/federation/outbox/retry', {});
      if (r.pending > 0) state.exitCode = EXIT_FAILED;
      if (opts.json) return json(r);
      out(`tried ${r.attempted}, delivered ${r.delivered}, ${r.pending} still waiting\n`);
    });

  return program;
}

/** Runs the CLI and returns the exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const state = { exitCode: EXIT_OK };
  const program = buildProgram(io, state);
  try {
    await program.parseAsync(argv);
    return state.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.exitCode === 0)
        return EXIT_OK;
      return EXIT_USAGE;
    }
    if (e instanceof CliError) {
      io.stderr.write(`uuru-fed: ${e.message}\n`);
      return e.exitCode;
    }
    io.stderr.write(`uuru-fed: ${errorMessage(e)}\n`);
    return EXIT_FAILED;
  }
}
