import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // e2e tests create namespaces and TAPs with fixed names: never run two files at once there.
    fileParallelism: true,
    reporters: ['default'],
  },
});
