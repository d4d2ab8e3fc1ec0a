// Two projects: fast unit tests of pure logic, and e2e tests that run against the real
// kube-apiserver and nats-server processes started by test/env (globalSetup).
const tsJest = ['ts-jest', { useESM: true }];
const common = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': tsJest },
};

export default {
  // e2e suites each run their own operator against one shared API server: one suite at a time.
  maxWorkers: 1,
  // Unit tests wait on no server, but a few compare with the nkeys library's pure-JS Ed25519: on a
  // shared 2-core machine under load one can take seconds, and the 5 s default would fail it for
  // nothing. (jest reads testTimeout only here, not per project; e2e suites set their own.)
  testTimeout: 30_000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.test.ts'],
      globalSetup: '<rootDir>/test/env/jest-global-setup.ts',
      globalTeardown: '<rootDir>/test/env/jest-global-teardown.ts',
      setupFilesAfterEnv: ['<rootDir>/test/e2e/support/timeouts.ts'],
    },
  ],
};
