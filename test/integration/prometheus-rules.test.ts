import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * The shipped alert rules (examples/prometheus/alerts.yml) pass their unit
 * tests (alerts.test.yml) under the real promtool, from Debian's prometheus
 * package (scripts/setup-system.sh installs it). A missing promtool fails
 * this test rather than skipping it.
 */

const DIR = path.resolve(__dirname, '..', '..', 'examples', 'prometheus');

function promtool(args: string[], cwd: string): { code: number | null; output: string } {
  const r = spawnSync('promtool', args, { cwd, encoding: 'utf8', timeout: 60_000 });
  if (r.error) {
    throw new Error(
      `promtool did not run (${r.error.message}); install Debian's prometheus package (scripts/setup-system.sh)`,
    );
  }
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('Prometheus alert rules', () => {
  it('are valid rules', () => {
    const r = promtool(['check', 'rules', 'alerts.yml'], DIR);
    expect(r.output).toMatch(/SUCCESS: 7 rules found/);
    expect(r.code).toBe(0);
  });

  it('pass their unit tests (promtool test rules alerts.test.yml)', () => {
    const r = promtool(['test', 'rules', 'alerts.test.yml'], DIR);
    expect(r.output).toMatch(/SUCCESS/);
    expect(r.output).not.toMatch(/FAILED/);
    expect(r.code).toBe(0);
  });

  it('the unit tests catch a rule that fires too early', () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-alerts-'));
    try {
      const rules = fs.readFileSync(path.join(DIR, 'alerts.yml'), 'utf8');
      const early = rules.replace(/(alert: UuruFedTrunkDown[\s\S]*?for: )5m/, '$11m');
      expect(early).not.toBe(rules);
      fs.writeFileSync(path.join(work, 'alerts.yml'), early);
      fs.copyFileSync(path.join(DIR, 'alerts.test.yml'), path.join(work, 'alerts.test.yml'));
      const r = promtool(['test', 'rules', 'alerts.test.yml'], work);
      expect(r.output).toMatch(/FAILED[\s\S]*UuruFedTrunkDown/);
      expect(r.code).not.toBe(0);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});
