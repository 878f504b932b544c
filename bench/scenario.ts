import type { MachineInfo } from './machine-info';

/** What every scenario file exports, and what lands in bench/results/<name>.json. */
export interface Scenario {
  name: string;
  title: string;
  /** How it is measured, in a sentence or two (shown in docs/performance.md). */
  method: string;
  run(log: (line: string) => void): Promise<ScenarioOutcome>;
}

export interface Target {
  what: string;
  /** The measured value the target is about, or null when it could not be measured. */
  value: number | null;
  unit: string;
  limit: number;
  comparison: '<=' | '>=';
  met: boolean | null;
}

export type ScenarioOutcome =
  | { status: 'ok'; metrics: Record<string, unknown>; targets: Target[]; notes?: string[] }
  | { status: 'not_run'; reason: string; metrics?: Record<string, unknown> };

export type ScenarioResult = ScenarioOutcome & {
  name: string;
  title: string;
  method: string;
  date: string;
  durationMs: number;
  machine: MachineInfo;
};

export function target(
  what: string,
  value: number | null,
  unit: string,
  comparison: '<=' | '>=',
  limit: number,
): Target {
  const met = value === null ? null : comparison === '<=' ? value <= limit : value >= limit;
  return { what, value, unit, limit, comparison, met };
}
