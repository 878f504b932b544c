/**
 * The accept's store and crypto work rehearsed at start
 * (src/federation/accept-rehearsal.ts), on a real SQLite database: it runs the
 * accept's writes in one transaction and keeps none of them, tells nobody
 * (no outbox kick, nothing sent), logs nothing above debug, and a real accept's
 * rows around it are untouched.
 */
import { rehearseAccept } from '../../src/federation/accept-rehearsal';
import { newPeerRow } from '../harness/peer-row';
import { keptRows, rehearsalSetUp } from './fixtures/accept-rehearsal';
import { useTempSqlite } from './fixtures/temp-sqlite';

const tmp = useTempSqlite('rehearsal');
const setUp = () => rehearsalSetUp(tmp.db, tmp.config);

describe('accept rehearsal at start', () => {
  it("runs the accept's writes in one transaction and keeps none of them", async () => {
    const { deps, records, logs, told, written } = await setUp();
    const mark = logs.lines.length; // the set-up's own lines (our keys made) before it
    const r = await rehearseAccept(deps, records);
    expect(r.outcome).toBe('rolled_back');
    // The peer and the outbox item were written inside the transaction...
    expect(written).toEqual([expect.stringMatching(/^peer warm-up-/), 'outbox accept']);
    // ...and rolled back with it: no row, nothing told, nothing logged above debug.
    expect(await keptRows(tmp.db)).toEqual({ peers: 0, outbox: 0 });
    expect(told).toEqual([]);
    const levels = logs.lines.slice(mark).map((l) => (JSON.parse(l) as { level: string }).level);
    expect(levels.filter((l) => l !== 'debug')).toEqual([]);
  });

  it("leaves a real peer alone, and the store's next write runs as usual", async () => {
    const { deps, records, clock } = await setUp();
    const real = newPeerRow(
      {
        name: 'real',
        prefix: '55',
        partnerUrl: 'https://partner.example',
        partnerIaxHost: '192.0.2.9',
        partnerIaxPort: 4569,
        codec: 'ulaw',
        secret: 'R'.repeat(40),
        dialect: 'v2',
        role: 'acceptor',
        requestId: 'req-real',
      },
      clock.now(),
    );
    await deps.peerings.insertPeer(real);
    const [r, rows] = await Promise.all([rehearseAccept(deps, records), deps.peerings.listPeers()]);
    expect(r.outcome).toBe('rolled_back');
    expect(rows.map((p) => p.name)).toEqual(['real']);
    expect((await deps.peerings.listPeers()).map((p) => [p.name, p.secret])).toEqual([
      ['real', 'R'.repeat(40)],
    ]);
    expect(await keptRows(tmp.db)).toEqual({ peers: 1, outbox: 0 });
  });
});
