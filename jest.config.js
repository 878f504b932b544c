/** Two projects: fast unit tests, and integration tests that start real MariaDB,
 * Asterisk and sidecar processes. `npm test` runs both, in band (2 cores). */
const tsJest = ['ts-jest', { tsconfig: 'tsconfig.json' }];
module.exports = {
  testTimeout: 60000,
  // Every test stops what it started (by pid, in afterAll) and the global teardown
  // stops the shared MariaDB; but after a full run Node 20 was seen spinning at
  // 100 % CPU inside its own exit cleanup (Environment::CleanupHandles waiting on a
  // closed socket handle, gdb backtrace), so Jest exits explicitly once it is done.
  forceExit: true,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/harness/global-setup.ts',
      globalTeardown: '<rootDir>/test/harness/global-teardown.ts',
    },
  ],
};
