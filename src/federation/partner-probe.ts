import { checkOf, type CheckResult, type PartnerProbe } from '../core/diagnostics';
import { errorMessage } from '../core/errors';
import { describeHost } from '../core/network-address';
import { fetchDescriptor } from './descriptor';
import { v1Phonebook } from './legacy-calls';
import { describeAnswer, type PartnerTransport } from './partner-transport';
import type { PeeringStore } from './ports';
import { v2PeeringState } from './v2-calls';
import { v2PeeringStateAnswer } from './wire-schemas';

/**
 * The doctor's look at each partner (src/doctor asks through PartnerProbe):
 * v2, its descriptor and a signed GET of the shared peering (the call
 * anti-entropy makes), which proves both ends still know each other's keys;
 * v1 (stock µURU), whether its API answers. Partners are named by host only:
 * a web address may carry a user name or password.
 */
export class PartnerProbeService implements PartnerProbe {
  constructor(
    private readonly deps: {
      peerings: PeeringStore;
      transport: PartnerTransport;
      fetch: typeof fetch;
      timeoutMs: number;
    },
  ) {}

  async checkPartners(): Promise<CheckResult[]> {
    const peers = await this.deps.peerings.listPeers();
    return Promise.all(
      peers.map((p) =>
        p.dialect === 'v2'
          ? this.checkV2(p.name, p.partnerUrl, p.requestId)
          : this.checkV1(p.name, p.partnerUrl),
      ),
    );
  }

  private async checkV2(name: string, url: string, requestId: string): Promise<CheckResult> {
    const check = partnerCheck(name, 'v2');
    const host = describeHost(url);
    try {
      const d = await fetchDescriptor(url, { fetch: this.deps.fetch, timeoutMs: this.deps.timeoutMs });
      if (d.kind === 'not_found') {
        return check.fail(
          `${host} answers 404 for its descriptor: it no longer speaks uuru-fed/2`,
          "Ask the partner's admin what changed (a reinstall, another address).",
        );
      }
    } catch (e) {
      return check.fail(
        `descriptor unreachable: ${errorMessage(e)}`,
        `Check that ${host} is up and reachable from here (firewall, DNS, TLS).`,
      );
    }
    try {
      const answer = await this.deps.transport.send(v2PeeringState(url, requestId));
      if (answer.status === 200) {
        const parsed = v2PeeringStateAnswer.safeParse(answer.json);
        if (!parsed.success)
          return check.fail(`descriptor ok; the signed round trip got an answer that is not a peering state`);
        const state = parsed.data.state;
        return state === 'active'
          ? check.ok(`descriptor ok; signed round trip ok (the partner sees the peering as active)`)
          : check.warn(
              `descriptor ok; the partner sees the peering as ${state}`,
              `Ask the partner's admin; tear the peer down if the partner has left (uuru-fed peer teardown ${name}).`,
            );
      }
      const why = describeAnswer(answer);
      if (answer.status === 401) {
        return check.fail(
          `descriptor ok; the partner refused our signature (HTTP 401${why.code ? ` ${why.code}` : ''}: ${why.message})`,
          'The partner may hold an older key of ours: ask its admin to refetch our keys, and compare fingerprints (uuru-fed key show).',
        );
      }
      return check.fail(
        `descriptor ok; the signed round trip was refused (HTTP ${answer.status}${why.code ? ` ${why.code}` : ''}: ${why.message})`,
        "Ask the partner's admin.",
      );
    } catch (e) {
      return check.fail(
        `descriptor ok; the signed round trip failed: ${errorMessage(e)}`,
        `Check that ${host} is reachable from here.`,
      );
    }
  }

  private async checkV1(name: string, url: string): Promise<CheckResult> {
    const check = partnerCheck(name, 'v1');
    const host = describeHost(url);
    try {
      const answer = await this.deps.transport.send(v1Phonebook(url));
      if (answer.status >= 200 && answer.status < 300)
        return check.ok(`its API at ${host} answers (v1 has no signed requests to try)`);
      if (answer.status < 500)
        return check.warn(
          `its API at ${host} answers HTTP ${answer.status} to the phonebook`,
          "The partner's API is up; ask its admin whether its phonebook is published.",
        );
      return check.fail(`its API at ${host} answers HTTP ${answer.status}`, "Ask the partner's admin.");
    } catch (e) {
      return check.fail(
        `its API is unreachable: ${errorMessage(e)}`,
        `Check that ${host} is up and reachable from here.`,
      );
    }
  }
}

/** The results of one partner's check. */
function partnerCheck(name: string, dialect: 'v1' | 'v2') {
  return checkOf(`partner.${name}`, `Partner ${name} (${dialect})`);
}
