import type { Scenario } from './scenario';
export const scale: Scenario = { name: 'scale', title: 'scale', method: 'todo', run: async () => ({ status: 'not_run', reason: 'todo' }) };
