import type { Scenario } from './scenario';
export const burst: Scenario = { name: 'burst', title: 'burst', method: 'todo', run: async () => ({ status: 'not_run', reason: 'todo' }) };
