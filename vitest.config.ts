import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    // two files at a time (vitest's default is one fewer than the cores: one here): most tests wait on
    // real servers, timers and child processes, not on the CPU
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // the fault suite runs on its own: npm run test:faults
    exclude: ['test/faults/**', 'node_modules/**'],
  },
});
