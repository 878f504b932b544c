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
      leases: [{ job: 'anti-entropy', holder: 'replica-a', token: 7, done: true }],
    }).toString();
    expect(page).toContain('data-replica="replica-a" data-replica-live="true"');
    expect(page).toContain('data-replica-live="false"');
    expect(page).toContain('&lt;b&gt;');
    expect(page).not.toContain('<b>');
    expect(page).toMatch(/data-lease="anti-entropy">[\s\S]*?<td>\s*replica-a[\s\S]*?<td>\s*7\s*<\/td>/);
    const plain = federationPage(snapshot, 'csrf', ['g722']).toString();
    expect(plain).not.toContain('id="replicas"');
  });

  it("names a node's lease held, a job's running until done, and an empty one free", () => {
    const lease = (job: string, holder: string | null, done: boolean) => ({ job, holder, token: 1, done });
    expect(
      [
        lease('node:ast-a', 'replica-a', false),
        lease('node:ast-b', null, false),
        lease('anti-entropy', 'replica-a', false),
        lease('key-rotation', 'replica-a', true),
        lease('nonce-purge', null, false),
      ].map(leaseState),
    ).toEqual(['held', 'free', 'running', 'done', 'free']);
    const page = federationPage(snapshot, 'csrf', ['g722'], {
      self: { replica_id: 'replica-a', asterisk_node: 'ast-a' },
      replicas: [],
      leases: [lease('node:ast-a', 'replica-a', false), lease('anti-entropy', 'replica-b', false)],
    }).toString();
    expect(page).toMatch(/data-lease="node:ast-a">[\s\S]*?replica-a <span class="muted">\(held\)<\/span>/);
    expect(page).toMatch(
      /data-lease="anti-entropy">[\s\S]*?replica-b <span class="muted">\(running\)<\/span>/,
    );
  });
});
