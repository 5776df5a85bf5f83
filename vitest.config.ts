import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // the fault suite runs on its own: npm run test:faults
    exclude: ['test/faults/**', 'node_modules/**'],
  },
});
