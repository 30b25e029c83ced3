import { defineConfig } from 'vitest/config';

/**
 * Two groups, one after the other. `latency` holds the end-to-end tests that measure wall-clock
 * latency through real tools (netem's ping p99): they run alone, after everything else, one file
 * at a time, so other test files competing for the 2 cores do not become their measurement.
 */
const LATENCY = ['test/e2e/netem.test.ts'];

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts', 'test/e2e/docker-global.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: { name: 'main', include: ['src/**/*.test.ts', 'test/**/*.test.ts'], exclude: LATENCY, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: { name: 'latency', include: LATENCY, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
