/**
 * `npm run distance-worker`: keeps each employee's home -> office commute distance in
 * `commute_distances` (Google Routes / Distance Matrix with GOOGLE_MAPS_API_KEY, offline
 * estimates without). A rejected key fails at start-up with a clear message (exit 1). Stops
 * gracefully on SIGTERM/SIGINT (exit 0).
 */
import { runMain } from '../../scripts/lib/cli.ts';
import { loadConfig } from '../common/config.ts';
import { createLogger } from '../common/logger.ts';
import { SERVICE_NAME, startDistanceWorker } from './worker.ts';

await runMain(SERVICE_NAME, async () => {
  const config = loadConfig();
  const logger = createLogger(SERVICE_NAME, config.logLevel);
  let stop: (() => Promise<void>) | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'stopping');
    if (!stop) process.exit(0); // not consuming yet: nothing to finish or commit
    void stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const worker = await startDistanceWorker(config, { logger });
  stop = worker.stop;
  const fatal = await worker.crashed;
  await worker.stop();
  throw fatal;
});
