import fs from 'node:fs';
import path from 'node:path';
import { machineInfo } from './machine-info';
import { readResults, renderPerformanceDoc } from './performance-report';
import type { ScenarioOutcome, ScenarioResult } from './scenario';

export const RESULTS_DIR = path.join(__dirname, 'results');
export const PERFORMANCE_DOC = path.resolve(__dirname, '..', 'docs', 'performance.md');
/** Hand-written decisions (with their measurements), appended to the generated page. */
export const PERFORMANCE_DECISIONS = path.resolve(__dirname, '..', 'docs', 'performance-decisions.md');

/** Writes bench/results/<name>.json with the machine and date. */
export function writeResult(
  meta: { name: string; title: string; method: string; durationMs: number },
  outcome: ScenarioOutcome,
): ScenarioResult {
  const result: ScenarioResult = {
    ...meta,
    ...outcome,
    date: new Date().toISOString(),
    machine: machineInfo(),
  };
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  fs.writeFileSync(path.join(RESULTS_DIR, `${meta.name}.json`), JSON.stringify(result, null, 2) + '\n');
  return result;
}

/** Regenerates docs/performance.md from every stored result. */
export function writePerformanceDoc(): void {
  const decisions = fs.existsSync(PERFORMANCE_DECISIONS)
    ? fs.readFileSync(PERFORMANCE_DECISIONS, 'utf8')
    : '';
  fs.writeFileSync(PERFORMANCE_DOC, renderPerformanceDoc(readResults(RESULTS_DIR), decisions));
}
