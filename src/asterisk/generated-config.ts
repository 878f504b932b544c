import type { Config } from '../config/schema';
import type { UnfederatedNumbersSource } from '../core/unfederated-numbers';
import type { AsteriskRenderRows } from '../core/asterisk-peers';
import { buildDesiredState, type DialplanStep, renderSettingsFrom } from './desired-state';
import { EXTENSIONS_FILE, IAX_FILE, renderExtensionsFile, renderIax } from './files-renderer';

/**
 * What the sidecar writes into Asterisk for the peers in the database, for an
 * admin to read (`uuru-fed asterisk config`, GET /api/admin/asterisk/config):
 * the same model and renderer the reconciler uses, so it is the text of the
 * generated files byte for byte, except that IAX2 secrets are replaced.
 * With the realtime backend the rows are shown in the files' notation.
 */

export const REDACTED = '<redacted>';

export interface GeneratedConfig {
  enabled: boolean;
  backend: 'files' | 'realtime';
  files: { name: string; content: string }[];
  refused: { name: string; error: string }[];
}

/** Secret lines carry the value only: everything after `secret=` goes. */
export const redactSecrets = (text: string): string => text.replace(/^secret=.*$/gm, `secret=${REDACTED}`);

const rowLine = (s: DialplanStep): string =>
  `${s.context} | ${s.exten} | ${s.priority} | ${s.app} | ${s.appData}`;

export async function renderGeneratedConfig(deps: {
  config: Config;
  /** The rendered columns only: no apply state is read (with replicas it is per Asterisk node). */
  peers: AsteriskRenderRows;
  unfederated: UnfederatedNumbersSource;
  /** The injected clock's time (which epoch secrets the files hold). */
  now: number;
}): Promise<GeneratedConfig> {
  const { config } = deps;
  const peers = await deps.peers.readRendered();
  const settings = renderSettingsFrom(config, await deps.unfederated.unfederatedSet());
  const desired = buildDesiredState(peers, settings, {
    now: deps.now,
    overlapMs: config.federation.secretOverlapSeconds * 1000,
  });
  const backend = config.asterisk.stateBackend;
  const iax = redactSecrets(renderIax(desired).text);
  const files =
    backend === 'files'
      ? [
          { name: IAX_FILE, content: iax },
          { name: EXTENSIONS_FILE, content: renderExtensionsFile(desired) },
        ]
      : [
          { name: 'iaxfriends (realtime rows, one section a row)', content: iax },
          {
            name: 'extensions (realtime rows: context | exten | priority | app | appdata)',
            content:
              [...desired.peers.flatMap((p) => p.steps), ...desired.sharedSteps].map(rowLine).join('\n') +
              '\n',
          },
        ];
  return {
    enabled: config.asterisk.enabled,
    backend,
    files,
    refused: desired.refused.map(({ name, error }) => ({ name, error })),
  };
}
