/**
 * `npm run distance-worker`: keeps each employee's home -> office commute distance in
 * `commute_distances` (Google Routes / Distance Matrix with GOOGLE_MAPS_API_KEY, offline
 * estimates without). A rejected key fails at start-up with a clear message (exit 1). Stops
 * gracefully on SIGTERM/SIGINT (exit 0).
 */
import { runConsumerService } from '../common/service-main.ts';
import { SERVICE_NAME, startDistanceWorker } from './worker.ts';

await runConsumerService(SERVICE_NAME, (config, logger) => startDistanceWorker(config, { logger }));
