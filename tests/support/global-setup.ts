/**
 * Vitest global setup for integration tests: starts the real stack (PostgreSQL, Kafka, MinIO)
 * on the test ports, applies the migrations, and stops the stack afterwards. A missing binary
 * fails the run with the install command; nothing is skipped. KEEP_TEST_STACK=1 leaves the
 * servers running between runs (faster local iteration).
 */
import { loadConfig } from '../../services/common/config.ts';
import { migrate } from '../../scripts/lib/migrate.ts';
import { stackDown, stackUp } from '../../scripts/lib/stack.ts';
import { testEnv } from './test-env.ts';

export default async function setup(): Promise<() => Promise<void>> {
  const config = loadConfig({ ...process.env, ...testEnv() });
  const say = (l: string) => console.log(`[test-stack] ${l}`);
  const t0 = Date.now();
  // A kept test stack from before Kafka had SASL/SCRAM users gets its (disposable) Kafka storage formatted anew.
  await stackUp(config, say, { reformatKafka: true });
  await migrate(config);
  say(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return async () => {
    if (process.env.KEEP_TEST_STACK === '1') return;
    await stackDown(config, say);
  };
}
