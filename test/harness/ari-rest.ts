import { AriError, type AriClient } from '../../src/asterisk/ari-client';

/**
 * ARI REST calls that only tests make (the sidecar needs none of them), built
 * on AriClient.request so they exercise the client's real REST path.
 */

interface AriInfoJson {
  status?: { startup_time?: string; last_reload_time?: string };
}

interface AriEndpointJson {
  resource: string;
  state?: string;
}

/** Startup and last reload time of Asterisk (GET /asterisk/info). */
export async function asteriskInfo(
  ari: AriClient,
): Promise<{ startupTime: string | null; lastReloadTime: string | null }> {
  const info = await ari.request<AriInfoJson>('GET', '/asterisk/info');
  return {
    startupTime: info.status?.startup_time ?? null,
    lastReloadTime: info.status?.last_reload_time ?? null,
  };
}

/**
 * IAX2 peers Asterisk has in memory, with state unknown/online/offline. A
 * peer that answered its first qualify stays "unknown" until its status
 * changes once (Asterisk announces Reachable only on recovery).
 */
export async function iaxEndpoints(ari: AriClient): Promise<{ resource: string; state: string }[]> {
  let list: AriEndpointJson[];
  try {
    list = await ari.request<AriEndpointJson[]>('GET', '/endpoints/IAX2');
  } catch (e) {
    // Asterisk knows no IAX2 technology endpoint until the first peer exists.
    if (e instanceof AriError && e.status === 404) return [];
    throw e;
  }
  return list.map((e) => ({ resource: e.resource, state: e.state ?? 'unknown' }));
}

/** Reloads a module (e.g. chan_iax2.so); retries while another reload runs (409). */
export async function reloadModule(ari: AriClient, name: string, retries = 8): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await ari.request('PUT', `/asterisk/modules/${encodeURIComponent(name)}`);
      return;
    } catch (e) {
      if (!(e instanceof AriError && e.status === 409) || attempt >= retries) throw e;
      await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
    }
  }
}
