/** Jest global teardown of the integration project: stops what global setup started, by pid. */
import fs from 'node:fs';
import { cleanupAsteriskRun } from './asterisk';
import { attachMariaDb } from './mariadb';
import { mariaDbStateFile, readMariaDbState } from './run-state';

export default async function globalTeardown(): Promise<void> {
  cleanupAsteriskRun();
  const state = readMariaDbState(mariaDbStateFile());
  if (state) {
    await attachMariaDb(state).stop();
    fs.rmSync(mariaDbStateFile(), { force: true });
  }
}
