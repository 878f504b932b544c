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

/** docs/performance.md from every stored result, laid out by prettier as `npm run lint` checks it (tables padded). */
export async function performanceDocText(): Promise<string> {
  const decisions = fs.existsSync(PERFORMANCE_DECISIONS)
    ? fs.readFileSync(PERFORMANCE_DECISIONS, 'utf8')
    : '';
  const text = renderPerformanceDoc(readResults(RESULTS_DIR), decisions);
  // Loaded here, not at the top: prettier's module does a dynamic import as it loads, which a jest test
  // importing writeResult (fuzz-endpoints) cannot run without --experimental-vm-modules.
  const { format, resolveConfig } = await import('prettier');
  const options = (await resolveConfig(PERFORMANCE_DOC)) ?? {};
  return format(text, { ...options, filepath: PERFORMANCE_DOC });
}

/** Regenerates docs/performance.md from every stored result. */
export async function writePerformanceDoc(): Promise<void> {
  fs.writeFileSync(PERFORMANCE_DOC, await performanceDocText());
}
