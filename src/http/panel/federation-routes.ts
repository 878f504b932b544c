import type { Request, Router } from 'express';
import { runTestCall } from '../admin/api-routes';
import { federationPage, teardownConfirmPage } from './federation-page';
import { loadSnapshot } from './panel-events';
import { qualityPage } from './quality-page';
import { mapPage } from './map-page';
import { federationMapOf, replicasView } from '../admin/api-routes';
import { TRUNK_QUALITY_RETENTION_MS } from '../../core/trunk-quality';
import { TypeormTrunkQualityStore } from '../../store/trunk-quality-samples';
import { acceptForm, createOutgoingForm, emptyForm, localOnlyForm, parseForm } from './panel-forms';
import { type PanelKit, pathId } from './panel-kit';

/** The federation page (requests, peers, outbox) and its forms. */

const BACK = '/panel/federation';

/** The peering name of a new request, as typed (the audit trail's target). */
const formName = (req: Request): string | null => {
  const name = (req.body as Record<string, unknown> | undefined)?.name;
  return typeof name === 'string' && name !== '' ? name : null;
};

export function federationRoutes(r: Router, kit: PanelKit): void {
  const { services, config } = kit.deps;
  const fed = services.federation;

  kit.view('/panel/federation', 'federation', async (_req, csrf) => ({
    title: 'Federation',
    body: federationPage(
      await loadSnapshot(services),
      csrf,
      config.instance.codecs,
      services.replicas ? await replicasView(services.replicas, services.clock.now()) : undefined,
    ),
  }));

  kit.view('/panel/federation/map', 'federation', async () => ({
    title: 'Federation map',
    body: mapPage(await federationMapOf(services)),
  }));

  kit.view('/panel/federation/peers/:id/quality', 'federation', async (req) => {
    const peer = await fed.getPeer(pathId(req));
    const to = services.clock.now();
    const from = to - TRUNK_QUALITY_RETENTION_MS;
    const samples = await new TypeormTrunkQualityStore(services.db).since(from, peer.name);
    return { title: `Call quality: ${peer.name}`, body: qualityPage({ peer, samples, from, to }) };
  });

  kit.post(
    '/panel/federation/outgoing-requests',
    BACK,
    { action: 'request.create', target: formName },
    async (req) => {
      const created = await fed.createOutgoingRequest(parseForm(createOutgoingForm, req.body));
      const v1 = created.dialect === 'v1' ? ' It uses legacy v1: the IAX2 secret travels in clear.' : '';
      return {
        flash: { kind: 'ok', text: `Request '${created.name}' sent to ${created.partner_url}.${v1}` },
        json: created,
      };
    },
  );
  /** Revoke and decline: a request id in the path, the local_only choice in the form, a fixed confirmation. */
  const requestAction = (
    path: string,
    action: 'request.revoke' | 'request.decline',
    run: (id: string, opts: { localOnly: boolean }) => Promise<unknown>,
    done: string,
  ) =>
    kit.post(path, BACK, { action }, async (req) => {
      const f = parseForm(localOnlyForm, req.body);
      await run(pathId(req), { localOnly: f.local_only === 'true' });
      return { flash: { kind: 'ok', text: done } };
    });
  requestAction(
    '/panel/federation/outgoing-requests/:id/revoke',
    'request.revoke',
    (id, o) => fed.revokeOutgoingRequest(id, o),
    'Request revoked.',
  );
  kit.post(
    '/panel/federation/incoming-requests/:id/accept',
    BACK,
    { action: 'request.accept' },
    async (req) => {
      const f = parseForm(acceptForm, req.body);
      const peer = await fed.acceptIncomingRequest(pathId(req), {
        prefix: f.prefix,
        local_only: f.local_only === 'true',
      });
      const local = f.local_only ? ' (local side only: the partner was not told)' : '';
      return {
        flash: {
          kind: 'ok',
          text: `Accepted: peer '${peer.name}' reached with prefix ${peer.prefix}${local}.`,
        },
        json: peer,
      };
    },
  );
  requestAction(
    '/panel/federation/incoming-requests/:id/decline',
    'request.decline',
    (id, o) => fed.declineIncomingRequest(id, o),
    'Request declined.',
  );

  kit.view('/panel/federation/peers/:id/teardown', 'federation', async (req, csrf) => {
    const peer = await fed.getPeer(pathId(req));
    return { title: `Tear down ${peer.name}`, body: teardownConfirmPage(peer, csrf) };
  });
  kit.post('/panel/federation/peers/:id/teardown', BACK, { action: 'peer.teardown' }, async (req) => {
    const f = parseForm(localOnlyForm, req.body);
    const peer = await fed.getPeer(pathId(req));
    await fed.teardownPeer(peer.id, { localOnly: f.local_only === 'true' });
    return {
      flash: {
        kind: 'ok',
        text: `Peer '${peer.name}' torn down${f.local_only ? ' (local side only)' : ''}.`,
      },
    };
  });
  kit.post(
    '/panel/federation/peers/:id/secret-rotation',
    BACK,
    { action: 'peer.secret_rotation' },
    async (req) => {
      parseForm(emptyForm, req.body);
      const peer = await fed.forceSecretRotation(pathId(req));
      return {
        flash: {
          kind: 'ok',
          text: `Secret rotation of '${peer.name}' agreed with the partner: the new secret is sent from ${peer.trunk_rotation?.forced_rotation_at ?? 'the agreed moment'}.`,
        },
      };
    },
  );
  kit.post('/panel/federation/peers/:id/test-call', BACK, { action: 'peer.test_call' }, async (req) => {
    parseForm(emptyForm, req.body);
    const peer = await fed.getPeer(pathId(req));
    const result = await runTestCall(services, peer);
    const text = result.answered
      ? `Test call through '${peer.name}' answered in ${result.setup_ms} ms.`
      : `Test call through '${peer.name}' not answered: ${result.error ?? 'no answer'}. Check the peer's reachability and the partner's test extension.`;
    return { flash: { kind: result.answered ? 'ok' : 'error', text }, json: result };
  });

  /** Pause, resume, purge: a partner's server name (or a peer id) in the path, nothing in the form. */
  const queueAction = (
    action: 'pause' | 'resume' | 'purge',
    run: (id: string) => Promise<{ text: string; json: unknown }>,
  ) =>
    kit.post(
      `/panel/federation/partners/:id/queue/${action}`,
      BACK,
      { action: `partner.queue_${action}` },
      async (req) => {
        parseForm(emptyForm, req.body);
        const out = await run(pathId(req));
        return { flash: { kind: 'ok', text: out.text }, json: out.json };
      },
    );
  queueAction('pause', async (id) => {
    const p = await fed.pausePartnerQueue(id);
    return { text: `Queue of ${p.server_name} paused: ${p.queue.pending} notification(s) held.`, json: p };
  });
  queueAction('resume', async (id) => {
    const p = await fed.resumePartnerQueue(id);
    return { text: `Queue of ${p.server_name} resumed.`, json: p };
  });
  queueAction('purge', async (id) => {
    const r = await fed.purgePartnerQueue(id);
    return { text: `${r.purged} notification(s) to ${r.partner.server_name} given up.`, json: r };
  });

  kit.post('/panel/federation/outbox/retry', BACK, { action: 'outbox.retry' }, async (req) => {
    parseForm(emptyForm, req.body);
    const out = await fed.retryDeliveriesNow();
    const waiting = out.pending > 0 ? ` ${out.pending} still waiting; see their last error below.` : '';
    return {
      flash: {
        kind: out.pending > 0 ? 'error' : 'ok',
        text: `Tried ${out.attempted} notification(s): ${out.delivered} delivered.${waiting}`,
      },
      json: out,
    };
  });
}
