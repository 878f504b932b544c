import { leaseState, summarizeNodes } from '../../src/core/replicas';
import { type FederationSnapshot, federationPage } from '../../src/http/panel/federation-page';

/**
 * What the admin surfaces show of replicas (issue 16): a peer's apply state
 * summed up over the live replicas' Asterisk nodes, and the panel's Replicas
 * section (replicas, their nodes, lease holders), escaped.
 */

describe('a peer applied over Asterisk nodes', () => {
  const at = (
    node: string,
    applyState: 'pending' | 'applied' | 'failed',
    applyError: string | null = null,
  ) => ({
    node,
    applyState,
    applyError,
    appliedAt: applyState === 'applied' ? 1000 + node.length : null,
  });

  it('is applied only when applied on every live node, at the latest time', () => {
    expect(summarizeNodes(['b', 'a'], [at('a', 'applied'), at('b', 'applied')])).toMatchObject({
      applyState: 'applied',
      applyError: null,
      appliedAt: 1001,
    });
    const half = summarizeNodes(['a', 'b'], [at('a', 'applied')]);
    expect(half.applyState).toBe('pending');
    expect(half.nodes.map((n) => `${n.node}:${n.applyState}`)).toEqual(['a:applied', 'b:pending']);
  });

  it('failed when it failed on one node, the error naming the node; rows of nodes not live are left out', () => {
    const s = summarizeNodes(
      ['a', 'b'],
      [at('a', 'applied'), at('b', 'failed', 'reload refused'), at('c', 'failed')],
    );
    expect([s.applyState, s.applyError]).toEqual(['failed', 'b: reload refused']);
    expect(s.nodes.map((n) => n.node)).toEqual(['a', 'b']);
  });

  it('pending with no node at all, and a pending node keeps its error', () => {
    expect(summarizeNodes([], []).applyState).toBe('pending');
    expect(summarizeNodes(['a'], [at('a', 'pending', 'AMI unreachable')]).applyError).toBe(
      'a: AMI unreachable',
    );
  });
});

describe("the panel's Replicas section", () => {
  const snapshot: FederationSnapshot = {
    peers: [],
    outgoing: [],
    incoming: [],
    deliveries: [],
    partners: [],
    status: {
      enabled: true,
      backend: 'files',
      ami: 'connected',
      ari: 'connected',
      monitoring: 'available',
      lastReconcileAt: null,
      lastReconcileError: null,
    },
  };

  it('lists the replicas with their nodes and liveness, and the lease holders, escaped; none without replicas', () => {
    const page = federationPage(snapshot, 'csrf', ['g722'], {
      self: { replica_id: 'replica-a', asterisk_node: 'ast-a' },
      replicas: [
        {
          replica_id: 'replica-a',
          asterisk_node: 'ast-a',
          last_seen_at: new Date(0).toISOString(),
          live: true,
        },
        { replica_id: '<b>', asterisk_node: null, last_seen_at: new Date(0).toISOString(), live: false },
      ],
      leases: [
        { job: 'anti-entropy', holder: 'replica-a', token: 7, state: 'done' },
        { job: 'key-rotation', holder: 'replica-a', token: 3, state: 'running' },
        { job: 'nonce-purge', holder: '<b>', token: 2, state: 'expired' },
        { job: 'node:ast-a', holder: 'replica-a', token: 5, state: 'held' },
        { job: 'node:ast-b', holder: null, token: 9, state: 'free' },
      ],
    }).toString();
    expect(page).toContain('data-replica="replica-a" data-replica-live="true"');
    expect(page).toContain('data-replica-live="false"');
    expect(page).toContain('&lt;b&gt;');
    expect(page).not.toContain('<b>');
    // Each cell of a row: job, holder with what the lease is at, fencing token.
    const cells = (job: string) =>
      [
        ...(page.match(new RegExp(`data-lease="${job}">([\\s\\S]*?)</tr>`))?.[1] ?? '').matchAll(
          /<td[^>]*>([\s\S]*?)<\/td>/g,
        ),
      ].map((m) =>
        m[1]
          .replace(/<[^>]+>/g, '')
          .replace(/\s+/g, ' ')
          .trim(),
      );
    expect(cells('anti-entropy')).toEqual(['anti-entropy', 'replica-a (done)', '7']);
    expect(cells('key-rotation')).toEqual(['key-rotation', 'replica-a (running)', '3']);
    expect(cells('nonce-purge')).toEqual(['nonce-purge', '&lt;b&gt; (expired)', '2']);
    expect(cells('node:ast-a')).toEqual(['node:ast-a', 'replica-a (held)', '5']);
    expect(cells('node:ast-b')).toEqual(['node:ast-b', 'free', '9']);
    expect(page).toContain('This page is served by replica-a, bound to Asterisk node ast-a.');
    const plain = federationPage(snapshot, 'csrf', ['g722']).toString();
    expect(plain).not.toContain('id="replicas"');
  });
});

describe('what a lease is at', () => {
  const NOW = 10_000;
  const lease = (job: string, holder: string | null, done: boolean, expiresAt: number) => ({
    job,
    holder,
    done,
    expiresAt,
  });

  it("free without a holder; an Asterisk node's lease held while renewed; a job's period done, running or expired", () => {
    expect(leaseState(lease('node:ast-a', null, false, 0), NOW)).toBe('free');
    expect(leaseState(lease('anti-entropy', null, true, 0), NOW)).toBe('free');
    expect(leaseState(lease('node:ast-a', 'r1', false, NOW + 1), NOW)).toBe('held');
    expect(leaseState(lease('node:ast-a', 'r1', false, NOW), NOW)).toBe('expired');
    expect(leaseState(lease('anti-entropy', 'r1', true, NOW - 5000), NOW)).toBe('done');
    expect(leaseState(lease('anti-entropy', 'r1', false, NOW + 1), NOW)).toBe('running');
    expect(leaseState(lease('anti-entropy', 'r1', false, NOW), NOW)).toBe('expired');
  });
});
