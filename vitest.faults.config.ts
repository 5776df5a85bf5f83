import { defineConfig } from 'vitest/config';

/**
 * The short half of the fault suite (npm run test:faults): crashes, outages, hostile input at volume.
 * The outages that last minutes are in test/faults/long/ (vitest.long-faults.config.ts).
 */
export default defineConfig({
  test: {
    include: ['test/faults/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    // the scenarios start their own servers and processes; one at a time keeps timings honest on 2 cores
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 60_000,
  },
});
