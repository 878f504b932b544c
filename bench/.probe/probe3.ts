import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { PeerEntity } from '../../src/store/entities';
import { startAsterisk, cleanupAsteriskRun } from '../../test/harness/asterisk';
import { LOCAL_CONTEXT } from '../asterisk-sidecar';
import { peerRow, benchAmi } from '../peer-rows';
import { startInProcessAsterisk } from '../in-process-asterisk';
import { AmiParser } from '../../src/asterisk/ami-protocol';

async function raw(port: number, user: string, secret: string, action: string): Promise<{ ms: number; bytes: number; text: string }> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.setEncoding('utf8');
    let buf = ''; let t0 = 0; let phase = 0;
    s.on('data', (d: string) => {
      buf += d;
      if (phase === 0 && buf.includes('Message: Authentication accepted\r\n\r\n')) { phase = 1; buf = ''; setTimeout(() => { t0 = performance.now(); s.write(action); }, 300); }
      else if (phase === 1 && (buf.includes('EventList: Complete') && buf.endsWith('\r\n\r\n') || buf.includes('--END COMMAND--\r\n\r\n'))) { phase = 2; const ms = performance.now() - t0; s.destroy(); resolve({ ms, bytes: buf.length, text: buf }); }
    });
    s.write(`Action: Login\r\nUsername: ${user}\r\nSecret: ${secret}\r\nEvents: off\r\n\r\n`);
  });
}

async function main() {
  process.env.UURU_TEST_RUN_ID ??= `probe-${process.pid}`;
  const ast = await startAsterisk({ name: 'probe', extensionsConf: [`[${LOCAL_CONTEXT}]`, `include => ${LOCAL_CONTEXT}-federation`, ''].join('\n') });
  const layer = await startInProcessAsterisk(ast);
  try {
    const repo = layer.db.getRepository(PeerEntity);
    const rows = Array.from({ length: 1000 }, (_, i) => peerRow(i, 100000, 'scale_'));
    for (let i = 0; i < rows.length; i += 100) await repo.insert(rows.slice(i, i + 100));
    await layer.feature.reconcile('first');
    await layer.feature.stop();
    for (let r = 0; r < 3; r++) {
      for (const [label, act] of [
        ['ShowDialPlan', 'Action: ShowDialPlan\r\nActionID: x\r\n\r\n'],
        ['ShowDialPlan ctx', `Action: ShowDialPlan\r\nActionID: x\r\nContext: ${LOCAL_CONTEXT}-federation\r\n\r\n`],
        ['IAXpeerlist', 'Action: IAXpeerlist\r\nActionID: x\r\n\r\n'],
        ['cli dialplan show', 'Action: Command\r\nActionID: x\r\nCommand: dialplan show\r\n\r\n'],
        ['cli iax2 show peers', 'Action: Command\r\nActionID: x\r\nCommand: iax2 show peers\r\n\r\n'],
      ] as const) {
        const res = await raw(ast.amiPort, ast.amiUser, ast.amiSecret, act);
        const t = performance.now();
        const p = new AmiParser();
        const msgs = p.push('Asterisk Call Manager/1\r\n' + res.text);
        const parseMs = performance.now() - t;
        console.log(label, 'asterisk+wire', res.ms.toFixed(1), 'bytes', res.bytes, 'parse', parseMs.toFixed(1), 'msgs', msgs.length);
      }
    }
  } finally {
    await layer.stop().catch(() => undefined);
    await ast.stop();
    cleanupAsteriskRun();
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
