import { defineConfig } from 'vitest/config';
import { testEnv } from './tests/support/test-env.ts';

// Two projects: `unit` (pure code, no I/O) and `integration` (real PostgreSQL, Kafka and MinIO
// started by tests/support/global-setup.ts). `npm test` runs both.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['services/**/*.test.ts', 'products/**/*.test.ts', 'scripts/**/*.test.ts', 'tests/unit/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', 'node_modules/**'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['**/*.int.test.ts'],
          exclude: ['node_modules/**', '.local/**'],
          globalSetup: ['tests/support/global-setup.ts'],
          env: testEnv(),
          // Integration tests share one stack; files run one at a time so they do not race on
          // topics, slots and consumer groups.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
