import { defineConfig } from 'vitest/config';

/**
 * The long half of the fault suite (npm run test:faults): outages that last minutes. Each file spends
 * most of its time waiting out a fault, so the files run side by side and the half takes about as long
 * as its longest outage, not the sum of them.
 */
export default defineConfig({
  test: {
    include: ['test/faults/long/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 8,
    testTimeout: 40 * 60_000,
    hookTimeout: 120_000,
  },
});
