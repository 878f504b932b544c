import type { DeleteResult, UpdateResult } from 'typeorm';

/** Whether an UPDATE or DELETE touched a row. */
export function changedAny(result: UpdateResult | DeleteResult): boolean {
  return (result.affected ?? 0) > 0;
}
