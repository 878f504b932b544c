import type { Scenario } from './scenario';
export const convergence: Scenario = { name: 'convergence', title: 'convergence', method: 'todo', run: async () => ({ status: 'not_run', reason: 'todo' }) };
